"""PostgreSQL: a search row also holds a key per (country, category) the service has, and each
place holds its service's keys, so that the two searches caseworkers make most read less.

What and where (`category` + `country`): GIN intersected a country's posting list (6,700 rows
on the bench directory of 100,000 services) with those of a category and its sub-categories
(20,000) to keep 1,500; `country_category_keys` holds `EC/health` for a service of Ecuador in
`health.first_aid` (a code and each code above it: the taxonomy's codes are dotted paths), so
one posting list of 1,500 is read instead (the index scan with a word: 1.9 → 1.25 ms on the
imported directory, 0.8 ms on the same rows freshly indexed).

Near (`lat`, `lon`, `radius_km` + filters): every place inside the box was joined to its
service's search row to test the filters, one index lookup each (600 for 50 km: 2.8 of the
4 ms); `registry_service_locations.search_keys` is a copy of the search row's keys, kept by
triggers: set from the search row when a place is written, and rewritten on the service's places
when its search row's keys change. A bulk import writes the places after the search rows, so it
never rewrites a place it has just written.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SEARCH, PLACES = "registry_service_search", "registry_service_locations"
INDEX = "ix_registry_service_search_keys_document"
PENDING = "WITH (gin_pending_list_limit = 256)"  # as in 0004
COUNTRY_CATEGORY_KEYS = """
CREATE FUNCTION registry_country_category_keys(keys text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT coalesce(array_agg(DISTINCT country || '/' || array_to_string(code[1:depth], '.')), '{}')
FROM (SELECT substr(key, 9) FROM unnest(keys) key WHERE key LIKE 'country:%') places (country),
    (SELECT string_to_array(substr(key, 10), '.') FROM unnest(keys) key
     WHERE key LIKE 'category:%') categories (code),
    generate_series(1, cardinality(code)) depth
$$
"""
PLACE_KEYS_SET = f"""
CREATE FUNCTION registry_place_keys_set() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    NEW.search_keys := (SELECT keys FROM {SEARCH} WHERE service_id = NEW.service_id);
    RETURN NEW;
END $$
"""
PLACE_KEYS_FOLLOWED = f"""
CREATE FUNCTION registry_place_keys_followed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    UPDATE {PLACES} place SET search_keys = changed.keys FROM changed_rows changed
    WHERE place.service_id = changed.service_id
        AND place.search_keys IS DISTINCT FROM changed.keys;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(COUNTRY_CATEGORY_KEYS)
    op.execute(
        f"ALTER TABLE {SEARCH} ADD COLUMN country_category_keys text[] NOT NULL "
        "GENERATED ALWAYS AS (registry_country_category_keys(keys)) STORED"
    )
    op.execute(f"DROP INDEX {INDEX}")
    op.execute(
        f"CREATE INDEX {INDEX} ON {SEARCH} USING gin (keys, country_category_keys, document) "
        + PENDING
    )
    op.execute(f"ALTER TABLE {PLACES} ADD COLUMN search_keys text[]")
    op.execute(
        f"UPDATE {PLACES} place SET search_keys = row.keys FROM {SEARCH} row "
        "WHERE row.service_id = place.service_id"
    )
    op.execute(PLACE_KEYS_SET)
    op.execute(
        f"CREATE TRIGGER {PLACES}_search_keys BEFORE INSERT ON {PLACES} "
        "FOR EACH ROW EXECUTE FUNCTION registry_place_keys_set()"
    )
    op.execute(PLACE_KEYS_FOLLOWED)
    for event in ("insert", "update"):
        op.execute(
            f"CREATE TRIGGER {SEARCH}_places_{event} AFTER {event.upper()} ON {SEARCH} "
            "REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION registry_place_keys_followed()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER {SEARCH}_places_{event} ON {SEARCH}")
    op.execute("DROP FUNCTION registry_place_keys_followed()")
    op.execute(f"DROP TRIGGER {PLACES}_search_keys ON {PLACES}")
    op.execute("DROP FUNCTION registry_place_keys_set()")
    op.execute(f"ALTER TABLE {PLACES} DROP COLUMN search_keys")
    op.execute(f"DROP INDEX {INDEX}")
    op.execute(f"ALTER TABLE {SEARCH} DROP COLUMN country_category_keys")
    op.execute(f"CREATE INDEX {INDEX} ON {SEARCH} USING gin (keys, document) " + PENDING)
    op.execute("DROP FUNCTION registry_country_category_keys(text[])")
