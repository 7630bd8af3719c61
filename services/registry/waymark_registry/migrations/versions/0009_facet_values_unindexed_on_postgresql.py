"""PostgreSQL: the facets lose their index of values, which nothing there reads any more.

Every search of PostgreSQL, the HSDS API's by taxonomy term included, reads the search rows'
keys; the facets are only what those keys are made of. Keeping the index took half the time of
writing facets (1.6 of 3.2 s for 200,000 rows; the bench directory's 100,000 services have
about 8 each). SQLite, which searches the facets themselves, keeps it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEX, TABLE = "ix_registry_service_facets_value", "registry_service_facets"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, TABLE)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index(INDEX, TABLE, ["facet", "value", "service_id"])
