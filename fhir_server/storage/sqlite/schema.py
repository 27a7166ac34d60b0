"""The tables of a tenant's database.

`resources` holds the current version of each resource (its `pk` is the stable position
used by search paging); `history` holds every version, `ended_us` marking when a version
stopped being current (for `_at`). One index table per kind of search value, each keyed
for the lookups the search compiler emits: (type, param, value..., pk).
"""

from __future__ import annotations

__all__ = ["ADDED_COLUMNS", "INDEX_TABLES", "PK_INDEXES", "TENANT_SCHEMA", "pk_index_sql"]

INDEX_TABLES = (
    "idx_string",
    "idx_token",
    "idx_reference",
    "idx_date",
    "idx_number",
    "idx_quantity",
    "idx_uri",
    "idx_composite",
)

# Columns added after databases were first made: added to an older database when opened
# (last, as ALTER TABLE places them; inserts name their columns).
ADDED_COLUMNS = (
    ("idx_number", "is_range", "INTEGER NOT NULL DEFAULT 0"),
    ("idx_quantity", "is_range", "INTEGER NOT NULL DEFAULT 0"),
)

# Each index table's `{table}_pk` index: a resource's entries, by parameter and value.
# Deletes find a resource's rows by its pk. The searches that show a resource once, at its
# first matching entry, ask whether it has an earlier one: with the parameter and value in
# the index that is one lookup, where an index on pk alone read every entry the resource
# has in the table (a prefix search over one Patient of 10,000 names ran for 9 s).
PK_INDEXES = {
    "idx_string": ("pk", "param", "value"),
    "idx_token": ("pk", "param", "code"),
    "idx_reference": ("pk", "param", "target_id"),
    "idx_date": ("pk", "param", "low"),
    "idx_number": ("pk", "param", "low"),
    "idx_quantity": ("pk", "param", "low"),
    "idx_uri": ("pk", "param", "value"),
    "idx_composite": ("pk", "param", "key"),
}


def pk_index_sql(table: str) -> str:
    return f"CREATE INDEX IF NOT EXISTS {table}_pk ON {table} ({', '.join(PK_INDEXES[table])});"


TENANT_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    pk INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    last_updated_us INTEGER NOT NULL,
    method TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    body BLOB,
    UNIQUE (type, id)
);
CREATE INDEX IF NOT EXISTS resources_type_updated ON resources (type, last_updated_us);
-- (type, rowid): walks one type's resources in pk order, the default result order
CREATE INDEX IF NOT EXISTS resources_type ON resources (type);

CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    pk INTEGER NOT NULL,  -- resources.pk (no FOREIGN KEY: the writer keeps them paired)
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    last_updated_us INTEGER NOT NULL,
    ended_us INTEGER,
    method TEXT NOT NULL,
    body BLOB,
    UNIQUE (pk, version)
);
CREATE INDEX IF NOT EXISTS history_type_seq ON history (type, seq);
CREATE INDEX IF NOT EXISTS history_updated ON history (last_updated_us);
-- updates and deletions (every version past the first), by type and time: what a later
-- page of a walk in value order reads to place what changed since its first (held_walk)
CREATE INDEX IF NOT EXISTS history_changes ON history (type, seq) WHERE version > 1;

-- Changes to the current version that make no new one ($meta-add, $meta-delete): when
-- (a number of the history's own sequence) and the body before, so that a walk in value
-- order can place the resource where it stood when it began (held_walk).
CREATE TABLE IF NOT EXISTS in_place_writes (
    seq INTEGER PRIMARY KEY, pk INTEGER NOT NULL, type TEXT NOT NULL,
    version INTEGER NOT NULL, body_before BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS in_place_writes_pk ON in_place_writes (pk, seq);
CREATE INDEX IF NOT EXISTS in_place_writes_type ON in_place_writes (type, seq);

CREATE TABLE IF NOT EXISTS idx_string (
    type TEXT NOT NULL, param TEXT NOT NULL, value TEXT NOT NULL, exact TEXT NOT NULL,
    pk INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS idx_string_value ON idx_string (type, param, value, pk);

CREATE TABLE IF NOT EXISTS idx_token (
    type TEXT NOT NULL, param TEXT NOT NULL, system TEXT, code TEXT, text TEXT,
    pk INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS idx_token_code ON idx_token (type, param, code, system, pk);

CREATE TABLE IF NOT EXISTS idx_reference (
    type TEXT NOT NULL, param TEXT NOT NULL, target_type TEXT, target_id TEXT, url TEXT,
    version TEXT, identifier_system TEXT, identifier_value TEXT, pk INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS idx_reference_target
    ON idx_reference (type, param, target_id, target_type, pk);
CREATE INDEX IF NOT EXISTS idx_reference_reverse ON idx_reference (target_id, target_type);

CREATE TABLE IF NOT EXISTS idx_date (
    type TEXT NOT NULL, param TEXT NOT NULL, low INTEGER NOT NULL, high INTEGER NOT NULL,
    pk INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS idx_date_low ON idx_date (type, param, low, high, pk);

CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value BLOB NOT NULL);

-- The widest (high - low) date range ever indexed per parameter: a search for ranges
-- reaching past instant A only needs entries whose low is at least A - width.
CREATE TABLE IF NOT EXISTS date_widths (
    type TEXT NOT NULL, param TEXT NOT NULL, width INTEGER NOT NULL,
    PRIMARY KEY (type, param));

CREATE TABLE IF NOT EXISTS idx_number (
    type TEXT NOT NULL, param TEXT NOT NULL, low REAL NOT NULL, high REAL NOT NULL,
    pk INTEGER NOT NULL, is_range INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS idx_number_low ON idx_number (type, param, low, high, pk);
-- a number's stated value, the middle of its precision range: what `_sort` walks
CREATE INDEX IF NOT EXISTS idx_number_middle ON idx_number (type, param, ((low + high) / 2.0), pk);

CREATE TABLE IF NOT EXISTS idx_quantity (
    type TEXT NOT NULL, param TEXT NOT NULL, low REAL NOT NULL, high REAL NOT NULL,
    system TEXT, code TEXT, unit TEXT, canonical_low REAL, canonical_high REAL,
    canonical_code TEXT, pk INTEGER NOT NULL, is_range INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS idx_quantity_low ON idx_quantity (type, param, low, high, pk);
CREATE INDEX IF NOT EXISTS idx_quantity_middle
    ON idx_quantity (type, param, ((low + high) / 2.0), pk);

CREATE TABLE IF NOT EXISTS idx_uri (
    type TEXT NOT NULL, param TEXT NOT NULL, value TEXT NOT NULL, pk INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS idx_uri_value ON idx_uri (type, param, value, pk);

CREATE TABLE IF NOT EXISTS idx_composite (
    type TEXT NOT NULL, param TEXT NOT NULL, key TEXT NOT NULL, pk INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS idx_composite_key ON idx_composite (type, param, key, pk);
""" + "\n".join(pk_index_sql(table) for table in PK_INDEXES)
