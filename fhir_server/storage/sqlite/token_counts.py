"""How many current resources hold each token `system|code`, per type and parameter.

An accurate total of a token equality (`Observation?code=http://loinc.org|8302-2`,
`_summary=count`) reads one row here instead of counting every match, so it costs the
same at 10k resources as at 1M. Triggers on `idx_token` keep the counts: every path that
writes index rows (create, update, delete, transaction, reindex) keeps them exact, inside
the same transaction. Exact because a resource holds at most one token row per
`system|code` (index_rows), so rows counted are resources counted; a token without a
system is counted under `''`, which a FHIR string can never be.
"""

from __future__ import annotations

import sqlite3

from fhir_server.search.plan import SearchPlan, TokenCondition

__all__ = [
    "countable",
    "counted_matches",
    "create_token_counts",
    "kept_count",
    "token_counts_exist",
]

_SCHEMA = (
    """CREATE TABLE token_counts (
        type TEXT NOT NULL, param TEXT NOT NULL, code TEXT NOT NULL, system TEXT NOT NULL,
        n INTEGER NOT NULL, PRIMARY KEY (type, param, code, system)) WITHOUT ROWID""",
    """CREATE TRIGGER token_counted AFTER INSERT ON idx_token WHEN new.code IS NOT NULL
    BEGIN
        INSERT INTO token_counts
        VALUES (new.type, new.param, new.code, IFNULL(new.system, ''), 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
    END""",
    """CREATE TRIGGER token_uncounted AFTER DELETE ON idx_token WHEN old.code IS NOT NULL
    BEGIN
        UPDATE token_counts SET n = n - 1 WHERE type = old.type AND param = old.param
        AND code = old.code AND system = IFNULL(old.system, '');
    END""",
)

# Counted from the rows already there when a database from before the counts is opened.
# Rows, like the triggers: a database from before one row per code may count a resource
# twice until `fhir-server reindex` rewrites its rows (and the triggers its count).
_BACKFILL = """
INSERT INTO token_counts
SELECT type, param, code, IFNULL(system, ''), count(*) FROM idx_token
WHERE code IS NOT NULL GROUP BY type, param, code, IFNULL(system, '')
"""


def token_counts_exist(conn: sqlite3.Connection) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'token_counted'").fetchone()
    return found is not None


def create_token_counts(conn: sqlite3.Connection) -> None:
    """Create the counts, their triggers and their first values: a write job, so that no
    other process's write can fall between the first values and the triggers (another
    process may have created them while this one waited for the lock)."""
    if token_counts_exist(conn):
        return
    for statement in _SCHEMA:
        conn.execute(statement)
    conn.execute(_BACKFILL)


def counted_matches(
    conn: sqlite3.Connection, resource_type: str, param: str, system: str | None, code: str
) -> int:
    """The current `resource_type` resources whose `param` holds `system|code` (`None`:
    a code without a system)."""
    row = conn.execute(
        "SELECT n FROM token_counts WHERE type = ? AND param = ? AND code = ? AND system = ?",
        (resource_type, param, code, system or ""),
    ).fetchone()
    return int(row[0]) if row else 0


def kept_count(conn: sqlite3.Connection, plan: SearchPlan) -> int | None:
    """The number of matches of a type search on one token `system|code` alone, read from
    the counts; None for any other search."""
    counted = _counted_token(plan)
    if counted is None:
        return None
    return counted_matches(conn, *counted)


def countable(plan: SearchPlan) -> bool:
    """Whether `kept_count` answers `plan` (one row read, whatever the database's size)."""
    return _counted_token(plan) is not None


def _counted_token(plan: SearchPlan) -> tuple[str, str, str | None, str] | None:
    """(type, param, system, code) of a type search on one token `system|code` alone."""
    rtype = plan.resource_type
    if rtype is None or len(plan.conditions) != 1:
        return None
    match plan.conditions[0]:
        case TokenCondition(param, (value,), False) if (
            value.system_given and value.code is not None
        ):
            return rtype, param, value.system, value.code
    return None
