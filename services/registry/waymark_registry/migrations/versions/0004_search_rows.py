"""PostgreSQL: one search row per service, and a two-dimensional index of the public points.

A search row holds what a search filters and sorts on: the service's facets as `facet:value`
keys and all its text documents in one tsvector (each GIN-indexed, so that the filters of a
search are intersected inside the indexes), and its name (the sort key). Statement-level
triggers keep it, whoever writes the rows it comes from (the API, or a bulk import by COPY):
written documents (re)make the whole row, so a new service's row is made once, with its
documents (every service has one, of its original texts); written facets update the keys of a
row already made; a renamed service renames its row. The documents' own GIN index is no longer
searched: dropped.

The radius prefilter becomes a GiST index on the public point (a box in both coordinates, not a
band of latitude around the whole globe). SQLite keeps its simpler search: nothing changes there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS_OF_SERVICE = (
    "(SELECT coalesce(array_agg(facet || ':' || value ORDER BY facet, value), '{}') "
    "FROM registry_service_facets WHERE service_id = s.id)"
)
DOCUMENT_OF_SERVICE = (
    "(SELECT coalesce(registry_tsvector_agg(document), '') "
    "FROM registry_service_documents WHERE service_id = s.id)"
)
WHOLE_ROWS = (
    "SELECT s.id, s.name, " + KEYS_OF_SERVICE + ", " + DOCUMENT_OF_SERVICE
    + " FROM registry_services s"
)
# Trigger function → the statement it runs for the rows a statement changed (`changed_rows`).
REFRESHES = {
    "registry_search_rows_made": (
        "INSERT INTO registry_service_search (service_id, name, keys, document) "
        + WHOLE_ROWS + " WHERE s.id IN (SELECT service_id FROM changed_rows) "
        "ON CONFLICT (service_id) DO UPDATE SET name = excluded.name, keys = excluded.keys, "
        "document = excluded.document"
    ),
    "registry_search_keys_changed": (
        "UPDATE registry_service_search x SET keys = " + KEYS_OF_SERVICE.replace("s.id", "x.service_id")
        + " WHERE x.service_id IN (SELECT service_id FROM changed_rows)"
    ),
    "registry_search_name_changed": (
        "UPDATE registry_service_search x SET name = n.name FROM changed_rows n "
        "WHERE x.service_id = n.id AND x.name <> n.name"
    ),
}
# (table, event, transition table, trigger function)
TRIGGERS = [
    *(("registry_service_documents", event, rows, "registry_search_rows_made")
      for event, rows in (("insert", "NEW"), ("update", "NEW"), ("delete", "OLD"))),
    *(("registry_service_facets", event, rows, "registry_search_keys_changed")
      for event, rows in (("insert", "NEW"), ("update", "NEW"), ("delete", "OLD"))),
    ("registry_services", "update", "NEW", "registry_search_name_changed"),
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE AGGREGATE registry_tsvector_agg(tsvector) "
        "(SFUNC = tsvector_concat, STYPE = tsvector, INITCOND = '')"
    )
    op.create_table(
        "registry_service_search",
        sa.Column(
            "service_id", sa.Uuid(),
            sa.ForeignKey("registry_services.id", ondelete="CASCADE"), primary_key=True,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("keys", sa.dialects.postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("document", sa.dialects.postgresql.TSVECTOR(), nullable=False),
    )
    for function, statement in REFRESHES.items():
        op.execute(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"{statement}; RETURN NULL; END $$"
        )
    for table, event, rows, function in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {table}_search_{event} AFTER {event.upper()} ON {table} "
            f"REFERENCING {rows} TABLE AS changed_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    op.execute(
        "INSERT INTO registry_service_search (service_id, name, keys, document) " + WHOLE_ROWS
    )
    for column in ("keys", "document"):
        # A short pending list: a bulk import still adds to the index in batches, and a search
        # reads little of what is not merged yet (the planner prices a long list out).
        op.create_index(
            f"ix_registry_service_search_{column}", "registry_service_search", [column],
            postgresql_using="gin", postgresql_with={"gin_pending_list_limit": 256},
        )
    op.create_index(
        "ix_registry_service_search_name", "registry_service_search", ["name", "service_id"]
    )
    op.drop_index("ix_registry_service_documents_document", "registry_service_documents")
    op.drop_index("ix_registry_service_locations_public_point", "registry_service_locations")
    op.execute(
        "CREATE INDEX ix_registry_service_locations_public_point ON registry_service_locations "
        "USING gist (point(public_longitude, public_latitude))"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_registry_service_locations_public_point", "registry_service_locations")
    op.create_index(
        "ix_registry_service_locations_public_point", "registry_service_locations",
        ["public_latitude", "public_longitude", "service_id"],
    )
    op.create_index(
        "ix_registry_service_documents_document", "registry_service_documents", ["document"],
        postgresql_using="gin",
    )
    for table, event, _, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER {table}_search_{event} ON {table}")
    for function in REFRESHES:
        op.execute(f"DROP FUNCTION {function}()")
    op.drop_table("registry_service_search")
    op.execute("DROP AGGREGATE registry_tsvector_agg(tsvector)")
