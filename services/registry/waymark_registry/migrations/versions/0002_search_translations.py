"""Full-text search documents, translations, verification dates, radius-search index.

PostgreSQL: one row per service and language with a generated tsvector, parsed with that
language's text search configuration (`simple` for languages PostgreSQL lacks); SQLite: an FTS5
table with the same columns but for the vector.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ISO 639-1 code → PostgreSQL text search configuration; those the server lacks are left out.
TEXT_SEARCH_CONFIGS = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "da": "danish",
    "nl": "dutch", "en": "english", "fi": "finnish", "fr": "french", "de": "german",
    "el": "greek", "hi": "hindi", "hu": "hungarian", "id": "indonesian", "ga": "irish",
    "it": "italian", "lt": "lithuanian", "ne": "nepali", "no": "norwegian", "nb": "norwegian",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian", "es": "spanish",
    "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}
FTS5_TOKENIZER = "unicode61 remove_diacritics 2 categories 'L* N* Co M*'"  # keeps vowel signs


def upgrade() -> None:
    op.add_column("registry_services", sa.Column("original_language", sa.String(3)))
    op.add_column(
        "registry_services", sa.Column("last_verified_at", sa.DateTime(timezone=True))
    )
    op.execute("UPDATE registry_services SET last_verified_at = updated_at")

    op.create_table(
        "registry_service_translations",
        sa.Column(
            "service_id", sa.Uuid(),
            sa.ForeignKey("registry_services.id", ondelete="CASCADE"), primary_key=True,
        ),
        sa.Column("field", sa.String(20), primary_key=True),
        sa.Column("language", sa.String(3), primary_key=True),
        sa.Column("text", sa.Text(), nullable=False),
    )

    # Bounding-box prefilter of a radius search (public coordinates: what every viewer may use).
    op.create_index(
        "ix_registry_service_locations_public_point", "registry_service_locations",
        ["public_latitude", "public_longitude", "service_id"],
    )

    if op.get_bind().dialect.name == "postgresql":
        _postgresql_documents()
    else:
        op.execute(
            "CREATE VIRTUAL TABLE registry_service_documents USING fts5("
            f'service_id UNINDEXED, language UNINDEXED, body, tokenize="{FTS5_TOKENIZER}")'
        )
    op.execute(
        "INSERT INTO registry_service_documents (service_id, language, body) "
        "SELECT id, '', name || ' ' || coalesce(description, '') FROM registry_services"
    )


def _postgresql_documents() -> None:
    available = {
        row[0] for row in op.get_bind().execute(sa.text("SELECT cfgname FROM pg_ts_config"))
    }
    configs = {code: name for code, name in TEXT_SEARCH_CONFIGS.items() if name in available}
    cases = " ".join(f"WHEN '{code}' THEN '{name}'::regconfig" for code, name in configs.items())
    op.execute(
        "CREATE FUNCTION registry_text_config(language text) RETURNS regconfig "
        f"LANGUAGE sql IMMUTABLE AS $$ SELECT CASE language {cases} "
        "ELSE 'simple'::regconfig END $$"
    )
    # The words of a query, as prefixes, in every configuration: a match in any language.
    any_language = " || ".join(
        f"to_tsquery('{name}', words)" for name in ["simple", *sorted(set(configs.values()))]
    )
    op.execute(
        "CREATE FUNCTION registry_any_language_query(words text) RETURNS tsquery "
        f"LANGUAGE sql IMMUTABLE AS $$ SELECT {any_language} $$"
    )
    op.create_table(
        "registry_service_documents",
        sa.Column(
            "service_id", sa.Uuid(),
            sa.ForeignKey("registry_services.id", ondelete="CASCADE"), primary_key=True,
        ),
        sa.Column("language", sa.String(3), primary_key=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "document", sa.dialects.postgresql.TSVECTOR(),
            sa.Computed("to_tsvector(registry_text_config(language), body)", persisted=True),
        ),
    )
    op.create_index(
        "ix_registry_service_documents_document", "registry_service_documents", ["document"],
        postgresql_using="gin",
    )


def downgrade() -> None:
    op.drop_table("registry_service_documents")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION registry_any_language_query(text)")
        op.execute("DROP FUNCTION registry_text_config(text)")
    op.drop_index("ix_registry_service_locations_public_point", "registry_service_locations")
    op.drop_table("registry_service_translations")
    op.drop_column("registry_services", "last_verified_at")
    op.drop_column("registry_services", "original_language")
