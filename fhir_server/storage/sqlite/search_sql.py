"""Compiling a `SearchPlan` into SQL over the resources and index tables.

Every value reaches SQLite as a bound parameter; the only text spliced into a statement
comes from this module's own constants, so no client value can change a query's shape.
"""

from __future__ import annotations

import sqlite3

from fhir_server.search.plan import (
    Condition,
    IdCondition,
    LastUpdatedCondition,
    RangeMatch,
    SearchPlan,
    TokenCondition,
    TokenMatch,
)
from fhir_server.storage.contracts import SearchPage, StoredVersion

__all__ = ["compile_where", "search_page"]

_SELECT = (
    "SELECT r.type, r.id, r.version, r.last_updated_us, r.method, r.body, r.pk FROM resources r"
)


def compile_where(plan: SearchPlan) -> tuple[str, list[object]]:
    """The WHERE clause (without paging) selecting the plan's current resources."""
    clauses = ["r.type = ?", "r.deleted = 0"]
    args: list[object] = [plan.resource_type]
    for condition in plan.conditions:
        sql, cond_args = _condition(plan.resource_type, condition)
        clauses.append(sql)
        args.extend(cond_args)
    return " AND ".join(clauses), args


def _condition(resource_type: str, condition: Condition) -> tuple[str, list[object]]:
    match condition:
        case IdCondition(ids):
            return f"r.id IN ({', '.join('?' for _ in ids)})", list(ids)
        case LastUpdatedCondition(matches):
            return _any_of([_range_on_point("r.last_updated_us", m) for m in matches])
        case TokenCondition(param, values, negated):
            inner, inner_args = _any_of([_token(v) for v in values])
            membership = "NOT IN" if negated else "IN"
            sql = (
                f"r.pk {membership} (SELECT pk FROM idx_token "  # noqa: S608
                f"WHERE type = ? AND param = ? AND {inner})"
            )
            return sql, [resource_type, param, *inner_args]
    raise TypeError(f"unsupported condition {type(condition).__name__}")


def _any_of(parts: list[tuple[str, list[object]]]) -> tuple[str, list[object]]:
    sql = " OR ".join(f"({p})" for p, _ in parts)
    args = [a for _, part_args in parts for a in part_args]
    return f"({sql})", args


def _token(match: TokenMatch) -> tuple[str, list[object]]:
    if not match.system_given:
        return "code = ?", [match.code]
    if match.system is None:
        return "code = ? AND system IS NULL", [match.code]
    if match.code is None:
        return "system = ?", [match.system]
    return "code = ? AND system = ?", [match.code, match.system]


def _range_on_point(column: str, match: RangeMatch) -> tuple[str, list[object]]:
    # A point's low and high are the same column.
    tests = [f"{column} {bound.op} ?" for bound in match.bounds]
    sql = " AND ".join(tests) or "1 = 1"
    if match.negated:
        sql = f"NOT ({sql})"
    return sql, [bound.value for bound in match.bounds]


def search_page(conn: sqlite3.Connection, plan: SearchPlan) -> SearchPage:
    where, args = compile_where(plan)
    total = None
    if plan.total != "none":
        total = int(
            conn.execute(f"SELECT count(*) FROM resources r WHERE {where}", args).fetchone()[0]  # noqa: S608
        )
    cursor = plan.cursor
    going_back = cursor is not None and cursor.direction == "before"
    page_where, page_args = where, list(args)
    if cursor is not None:
        page_where += " AND r.pk < ?" if going_back else " AND r.pk > ?"
        page_args.append(cursor.position)
    order = "DESC" if going_back else "ASC"
    rows = conn.execute(
        f"{_SELECT} WHERE {page_where} ORDER BY r.pk {order} LIMIT ?",
        [*page_args, plan.count + 1],
    ).fetchall()
    more = len(rows) > plan.count
    rows = rows[: plan.count]
    if going_back:
        rows.reverse()
    matches = [_version(row) for row in rows]
    if going_back:
        return SearchPage(matches, total, has_next=True, has_previous=more)
    return SearchPage(matches, total, has_next=more, has_previous=cursor is not None)


def _version(row: tuple[object, ...]) -> StoredVersion:
    rtype, rid, version, updated, method, body, pk = row
    return StoredVersion(
        resource_type=str(rtype),
        id=str(rid),
        version=int(str(version)),
        last_updated_us=int(str(updated)),
        method=str(method),
        body=bytes(body) if isinstance(body, bytes | memoryview) else None,
        position=int(str(pk)),
    )
