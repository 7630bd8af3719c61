"""Countries as search facets; each distinct query variant searched once.

A service's countries are those of its locations, else its organisation's: kept as facets so
that a country filter is an index lookup like the others.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO registry_service_facets (service_id, facet, value) "
        "SELECT DISTINCT service_id, 'country', country FROM registry_service_locations"
    )
    op.execute(
        "INSERT INTO registry_service_facets (service_id, facet, value) "
        "SELECT s.id, 'country', o.country FROM registry_services s "
        "JOIN registry_organizations o ON o.id = s.organization_id "
        "WHERE NOT EXISTS (SELECT 1 FROM registry_service_locations l WHERE l.service_id = s.id)"
    )
    if op.get_bind().dialect.name == "postgresql":
        # The same words parsed by every configuration the server has, each distinct form once
        # (most configurations leave a word as it is).
        op.execute(
            "CREATE OR REPLACE FUNCTION registry_any_language_query(words text) RETURNS tsquery "
            "LANGUAGE sql IMMUTABLE AS $$ "
            "SELECT string_agg(DISTINCT '(' || querytree(variant) || ')', ' | ')::tsquery "
            "FROM (SELECT to_tsquery(oid::regconfig, words) AS variant FROM pg_ts_config) v "
            "WHERE numnode(variant) > 0 $$"
        )


def downgrade() -> None:
    op.execute("DELETE FROM registry_service_facets WHERE facet = 'country'")
