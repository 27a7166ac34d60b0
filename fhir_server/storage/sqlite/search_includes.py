"""One step of `_include` or `_revinclude` (search.html#include), through the reference
index: forward, the current resources the sources refer to; reverse, the current
resources referring to the sources. `fhir_server.interactions.includes` iterates.
"""

from __future__ import annotations

import sqlite3

from fhir_server.search.plan import Condition, IncludeSpec
from fhir_server.storage.contracts import StoredVersion
from fhir_server.storage.sqlite.rows import VERSION_COLUMNS, version_of
from fhir_server.storage.sqlite.search_sql import matching_pks

__all__ = ["canonicals_held", "include_step"]


def _rows_as_versions(rows: list[tuple[object, ...]]) -> list[StoredVersion]:
    return [version_of(row) for row in rows]


def _forward(
    conn: sqlite3.Connection, spec: IncludeSpec, sources: list[StoredVersion]
) -> list[StoredVersion]:
    pks = [s.position for s in sources if s.resource_type == spec.source_type]
    if not pks:
        return []
    marks = ", ".join("?" for _ in pks)
    args: list[object] = [*pks, spec.param]
    target_test = ""
    if spec.target_type is not None:
        target_test = " AND c.target_type = ?"
        args.append(spec.target_type)
    # Distinct by pk in the subquery: a DISTINCT over whole rows would sort the bodies.
    sql = (
        f"SELECT {VERSION_COLUMNS} FROM resources r WHERE r.deleted = 0 AND r.pk IN ("
        f"SELECT x.pk FROM idx_reference c INDEXED BY idx_reference_pk JOIN resources x "
        f"ON x.type = c.target_type AND x.id = c.target_id "
        f"WHERE c.pk IN ({marks}) AND c.param = ?{target_test}) ORDER BY r.pk"
    )
    return _rows_as_versions(conn.execute(sql, args).fetchall())


def _reverse(
    conn: sqlite3.Connection, spec: IncludeSpec, targets: list[StoredVersion]
) -> list[StoredVersion]:
    found: list[StoredVersion] = []
    by_type: dict[str, list[str]] = {}
    for target in targets:
        if spec.target_type is None or spec.target_type == target.resource_type:
            by_type.setdefault(target.resource_type, []).append(target.id)
    for target_type, ids in by_type.items():
        marks = ", ".join("?" for _ in ids)
        sql = (
            f"SELECT {VERSION_COLUMNS} FROM resources r WHERE r.deleted = 0 AND r.pk IN ("
            f"SELECT c.pk FROM idx_reference c WHERE c.type = ? AND c.param = ? "
            f"AND c.target_id IN ({marks}) AND c.target_type = ?) ORDER BY r.pk"
        )
        args = [spec.source_type, spec.param, *ids, target_type]
        found += _rows_as_versions(conn.execute(sql, args).fetchall())
    return found


def canonicals_held(
    conn: sqlite3.Connection, resource_type: str, param: str, condition: Condition, limit: int
) -> list[tuple[str, str | None]]:
    """The distinct (url, version) canonicals of `param` held by the current
    `resource_type` resources satisfying `condition` (ResourceStore.canonicals)."""
    holders = matching_pks(resource_type, condition)
    sql = (
        "SELECT DISTINCT c.url, c.version FROM idx_reference c INDEXED BY idx_reference_pk "
        f"WHERE c.pk IN ({holders.text}) AND c.param = ? AND c.type = ? "
        "AND c.url IS NOT NULL AND c.target_id IS NULL LIMIT ?"
    )
    rows = conn.execute(sql, [*holders.args, param, resource_type, limit]).fetchall()
    return [(str(url), None if version is None else str(version)) for url, version in rows]


def include_step(
    conn: sqlite3.Connection, spec: IncludeSpec, sources: list[StoredVersion]
) -> list[StoredVersion]:
    """One `_include` or `_revinclude` step (the iteration is the caller's)."""
    return _reverse(conn, spec, sources) if spec.reverse else _forward(conn, spec, sources)
