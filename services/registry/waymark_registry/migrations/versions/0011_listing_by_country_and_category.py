"""PostgreSQL: the services of each (country, category) in name order, so that a search of what
and where reads its page off the front of that list instead of every match.

A text search with `country` and one `category` found all its matches in the search rows' GIN
index, read each match's row for its name and sorted them to keep a page: on the bench
directory of 100,000 services a word and a category found 984 of a country's services, 1.6 ms
of the database's time for 21 rows. `registry_service_listing` holds a row per key of a search
row's `country_category_keys` (0008) with the service's name, its primary key in that order:
the search walks the key's first rows by name and keeps those whose search row matches the
other filters (35 rows walked, 0.3 ms). Where the matches are rare the walk stops after ten
rows per row wanted and the search reads the GIN index as before (0.3 ms, plus the walk's).

Triggers on the search rows keep the listing, as those of 0008 keep the places.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SEARCH, LISTING = "registry_service_search", "registry_service_listing"
# The listing's rows of the search rows `%s`: one per key.
ROWS_OF = (
    "SELECT key, searched.name, searched.service_id "
    "FROM %s searched, unnest(searched.country_category_keys) key"
)
LISTED = f"INSERT INTO {LISTING} (country_category, name, service_id) {ROWS_OF}"
# Row by row, for the few updates that rename or re-key a service: a statement's transition
# tables would copy every updated row whole, its tsvector too, as each bulk update of the
# documents makes them.
RELISTED = f"""
DELETE FROM {LISTING} WHERE country_category = ANY (OLD.country_category_keys)
    AND name = OLD.name AND service_id = OLD.service_id;
INSERT INTO {LISTING} (country_category, name, service_id)
    SELECT key, NEW.name, NEW.service_id FROM unnest(NEW.country_category_keys) key
"""
UNLISTED = (
    f"DELETE FROM {LISTING} listed USING ({ROWS_OF % 'old_rows'}) gone WHERE "
    "listed.country_category = gone.key AND listed.name = gone.name "
    "AND listed.service_id = gone.service_id"
)
FUNCTIONS = {
    "registry_listing_added": LISTED % "new_rows",
    "registry_listing_changed": RELISTED,
    "registry_listing_removed": UNLISTED,
    "registry_listing_emptied": f"TRUNCATE {LISTING}",
}
# Trigger's event → what it runs on, and its function.
TRIGGERS = {
    "insert": ("REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT", "registry_listing_added"),
    "update": (
        "FOR EACH ROW WHEN ((OLD.name, OLD.country_category_keys) IS DISTINCT FROM "
        "(NEW.name, NEW.country_category_keys))", "registry_listing_changed",
    ),
    "delete": ("REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT", "registry_listing_removed"),
    "truncate": ("FOR EACH STATEMENT", "registry_listing_emptied"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_table(
        LISTING,
        sa.Column("country_category", sa.Text(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("country_category", "name", "service_id"),
    )
    for function, statements in FUNCTIONS.items():
        op.execute(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"{statements}; RETURN NULL; END $$"
        )
    for event, (runs_on, function) in TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {SEARCH}_listing_{event} AFTER {event.upper()} ON {SEARCH} "
            f"{runs_on} EXECUTE FUNCTION {function}()"
        )
    op.execute(LISTED % SEARCH)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for event, (_, function) in TRIGGERS.items():
        op.execute(f"DROP TRIGGER {SEARCH}_listing_{event} ON {SEARCH}")
        op.execute(f"DROP FUNCTION {function}()")
    op.drop_table(LISTING)
