"""PostgreSQL: one search row per service, and a two-dimensional index of the public points.

A search row holds what a search filters and sorts on: the service's facets as `facet:value`
keys and all its text documents in one tsvector (each GIN-indexed, so that the filters of a
search are intersected inside the indexes), and its name (the sort key). The database keeps it
from the facet and document rows (and the service's name) with statement-level triggers,
whoever writes those (the API or a bulk import by COPY). The documents' own GIN index is no longer searched: dropped.

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

# Source table → (search column it feeds, SQL aggregating one service's rows into it).
SOURCES = {
    "registry_service_facets": (
        "keys", "coalesce(array_agg(facet || ':' || value ORDER BY facet, value), '{}')",
    ),
    "registry_service_documents": ("document", "coalesce(registry_tsvector_agg(document), '')"),
}
REFRESHED_FROM = """
    INSERT INTO registry_service_search (service_id, name, {column})
    SELECT s.id, s.name, (SELECT {aggregate} FROM {table} WHERE service_id = s.id)
    FROM registry_services s WHERE s.id IN (SELECT service_id FROM changed_rows)
    ON CONFLICT (service_id) DO UPDATE SET name = excluded.name, {column} = excluded.{column}
"""


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
        sa.Column(
            "keys", sa.dialects.postgresql.ARRAY(sa.Text()), nullable=False,
            server_default="{}",
        ),
        sa.Column(
            "document", sa.dialects.postgresql.TSVECTOR(), nullable=False, server_default="",
        ),
    )
    for table, (column, aggregate) in SOURCES.items():
        function = f"registry_search_{column}_changed"
        op.execute(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            + REFRESHED_FROM.format(column=column, aggregate=aggregate, table=table)
            + "; RETURN NULL; END $$"
        )
        for event, rows in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            op.execute(
                f"CREATE TRIGGER {table}_search_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {rows} TABLE AS changed_rows "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
    op.execute(
        "CREATE FUNCTION registry_search_name_changed() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN UPDATE registry_service_search x SET name = n.name FROM changed_rows n "
        "WHERE x.service_id = n.id AND x.name <> n.name; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER registry_services_search_name AFTER UPDATE ON registry_services "
        "REFERENCING NEW TABLE AS changed_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION registry_search_name_changed()"
    )
    op.execute(
        "INSERT INTO registry_service_search (service_id, name, keys, document) "
        "SELECT s.id, s.name, "
        f"(SELECT {SOURCES['registry_service_facets'][1]} FROM registry_service_facets "
        "WHERE service_id = s.id), "
        f"(SELECT {SOURCES['registry_service_documents'][1]} FROM registry_service_documents "
        "WHERE service_id = s.id) "
        "FROM registry_services s"
    )
    for column in ("keys", "document"):
        # Without a pending list: a bulk import leaves the index whole, not a list that every
        # search would read (and that the planner prices out) until the next vacuum.
        op.create_index(
            f"ix_registry_service_search_{column}", "registry_service_search", [column],
            postgresql_using="gin", postgresql_with={"fastupdate": "off"},
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
    op.execute("DROP TRIGGER registry_services_search_name ON registry_services")
    op.execute("DROP FUNCTION registry_search_name_changed()")
    for table, (column, _) in SOURCES.items():
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER {table}_search_{event} ON {table}")
        op.execute(f"DROP FUNCTION registry_search_{column}_changed()")
    op.drop_table("registry_service_search")
    op.execute("DROP AGGREGATE registry_tsvector_agg(tsvector)")
