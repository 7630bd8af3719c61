"""PostgreSQL: the index of the public points also holds what a radius search reads of each place
(its service, both points and the search keys of 0008), so that the search reads the index
alone wherever the table's pages are all-visible, as vacuum marks them.

The box of a 50 km search on the bench directory of 100,000 services held 543 places on 357
pages of the table: scanned through the bitmap of the index and those pages, 0.54 ms; from the
index alone, 0.31 ms (the database's time per radius search under the bench's load: 1.04 →
0.86 ms). Where vacuum has not yet been since a bulk import the planner knows it from the
table's statistics and reads the pages as before.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

INDEX, PLACES = "ix_registry_service_locations_public_point", "registry_service_locations"
POINTS = f"CREATE INDEX {INDEX} ON {PLACES} USING gist (point(public_longitude, public_latitude))"
READ_BY_A_RADIUS_SEARCH = (
    "service_id", "latitude", "longitude", "public_latitude", "public_longitude", "search_keys",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, PLACES)
    op.execute(f"{POINTS} INCLUDE ({', '.join(READ_BY_A_RADIUS_SEARCH)})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, PLACES)
    op.execute(POINTS)
