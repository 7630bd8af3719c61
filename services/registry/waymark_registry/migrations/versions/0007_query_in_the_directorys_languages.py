"""PostgreSQL: a query's words are stemmed in the languages the directory has texts in, not in
every configuration the server has.

A document is parsed in its own language's configuration only, so a word stemmed in another
one finds nothing more, except by chance, and the chance is costly: Finnish and Catalan stem
`famille` to `fam`, and the prefix `fam:*` read a posting list of 29,000 rows where `famill:*`
reads 9,600 (on the bench directory of 100,000 services: the index scan 4.2 → 1.0 ms).

The configurations in use are kept in `registry_text_search_configs`, added to by a trigger
whenever documents are written (never removed: a language left without texts costs a little
time, not a match). `registry_directory_language_query` reads them, each stemmed form once (GIN
scans a prefix as often as the query repeats it): STABLE, so the search runs it once per
statement, as a subquery. The query of every configuration (0002) stays for
the migrations before this one.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DOCUMENTS = "registry_service_documents"
KEEP_CONFIGS = (
    "INSERT INTO registry_text_search_configs (config) "
    "SELECT DISTINCT registry_text_config(language) FROM {rows} ON CONFLICT DO NOTHING"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE TABLE registry_text_search_configs (config regconfig PRIMARY KEY)")
    op.execute("INSERT INTO registry_text_search_configs VALUES ('simple')")
    op.execute(KEEP_CONFIGS.format(rows=DOCUMENTS))
    op.execute(
        "CREATE FUNCTION registry_text_search_configs_used() RETURNS trigger LANGUAGE plpgsql "
        f"AS $$ BEGIN {KEEP_CONFIGS.format(rows='written')}; RETURN NULL; END $$"
    )
    for event in ("insert", "update"):
        op.execute(
            f"CREATE TRIGGER {DOCUMENTS}_configs_{event} AFTER {event.upper()} ON {DOCUMENTS} "
            "REFERENCING NEW TABLE AS written FOR EACH STATEMENT "
            "EXECUTE FUNCTION registry_text_search_configs_used()"
        )
    op.execute(
        "CREATE AGGREGATE registry_tsquery_or(tsquery) (SFUNC = tsquery_or, STYPE = tsquery)"
    )
    op.execute(
        "CREATE FUNCTION registry_directory_language_query(words text) RETURNS tsquery "
        "LANGUAGE sql STABLE AS $$ SELECT registry_tsquery_or(query) FROM (SELECT DISTINCT "
        "to_tsquery(config, words) AS query FROM registry_text_search_configs) stemmed $$"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION registry_directory_language_query(text)")
    op.execute("DROP AGGREGATE registry_tsquery_or(tsquery)")
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER {DOCUMENTS}_configs_{event} ON {DOCUMENTS}")
    op.execute("DROP FUNCTION registry_text_search_configs_used()")
    op.execute("DROP TABLE registry_text_search_configs")
