"""One page of search results: choosing the driving scan, ordering, cursors, totals.

The page is read by walking one index in its own order and keeping the rows that pass
the other conditions, so a first page costs about the page, not the number of matches:
- an equality on a token, reference or uri (a single value) walks that index by `pk`;
- otherwise a single date, number or string value walks its index by value;
- otherwise the resources of the type are walked by `pk`.
`_sort` on one parameter with no equality condition walks the sort parameter's index
(resources without a value follow, by `pk`); any other sort orders the full match set.
Every order ends with `pk`, so it is total and a cursor (the last row's order values) says
exactly where the next page starts.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from fhir_server.search.plan import (
    Condition,
    Cursor,
    DateCondition,
    IdCondition,
    NumberCondition,
    ReferenceCondition,
    SearchPlan,
    SortKey,
    StringCondition,
    TokenCondition,
    UriCondition,
)
from fhir_server.storage.contracts import SearchPage, StoredVersion
from fhir_server.storage.sqlite.entry_match import (
    bounds_on,
    prefix_range,
    reference_match,
    token_match,
)
from fhir_server.storage.sqlite.search_includes import included
from fhir_server.storage.sqlite.search_sql import predicate
from fhir_server.storage.sqlite.sql import Fragment, all_of

__all__ = ["search_page"]

_COLUMNS = "r.type, r.id, r.version, r.last_updated_us, r.method, r.body, r.pk"


@dataclass(slots=True)
class Walk:
    """How rows are produced: FROM, driver-specific WHERE, and the order (expr, desc)."""

    source: str
    where: Fragment
    order: list[tuple[str, bool]]
    used: Condition | None = None
    extra: list[Fragment] = field(default_factory=list)


def _type_filter(plan: SearchPlan) -> Fragment:
    if plan.resource_type is not None:
        return Fragment("r.type = ?", [plan.resource_type])
    if plan.types:
        return Fragment(f"r.type IN ({', '.join('?' for _ in plan.types)})", list(plan.types))
    return Fragment("1 = 1")


def _entry_walk(table: str, param: str, rtype: str, test: Fragment, order: list[str]) -> Walk:
    where = Fragment("d.type = ? AND d.param = ? AND ", [rtype, param]) + test
    walk = Walk(f"{table} d JOIN resources r ON r.pk = d.pk", where, [(c, False) for c in order])
    if order != ["d.pk"]:
        # A resource with several matching entries shows once: at its first in walk order.
        keys = ", ".join(order[:-1])
        keys2 = keys.replace("d.", "d2.")
        walk.extra.append(
            Fragment(
                f"NOT EXISTS (SELECT 1 FROM {table} d2 WHERE d2.pk = d.pk AND d2.param = d.param "
                f"AND d2.type = d.type AND ",
            )
            + Fragment(test.text.replace("d.", "d2."), list(test.args))
            + Fragment(f" AND ({keys2}, d2.rowid) < ({keys}, d.rowid))")
        )
    return walk


def _driver(plan: SearchPlan, rtype: str) -> Walk | None:
    """The first condition that can drive the walk: equalities (pk order) first."""
    for cond in plan.conditions:
        match cond:
            case IdCondition():
                return Walk("resources r", Fragment("1 = 1"), [("r.pk", False)])
            case TokenCondition(param, (value,), False) if value.code and value.system_given:
                return _entry_walk("idx_token", param, rtype, token_match("d", value), ["d.pk"])
            case ReferenceCondition(param, (value,)) if value.target_id and value.target_type:
                test = reference_match("d", value)
                return _entry_walk("idx_reference", param, rtype, test, ["d.pk"])
            case UriCondition(param, (value,), "exact"):
                test = Fragment("d.value = ?", [value])
                return _entry_walk("idx_uri", param, rtype, test, ["d.pk"])
    for cond in plan.conditions:
        match cond:
            case DateCondition(param, (m,)) | NumberCondition(param, (m,)) if not m.negated:
                table = "idx_date" if isinstance(cond, DateCondition) else "idx_number"
                order = ["d.low", "d.high", "d.pk"]
                return _entry_walk(table, param, rtype, bounds_on("d", m), order)
            case StringCondition(param, (value,), "starts"):
                test = prefix_range("d.value", value)
                return _entry_walk("idx_string", param, rtype, test, ["d.value", "d.pk"])
    return None


def _default_walk(plan: SearchPlan) -> Walk:
    if plan.resource_type is not None:
        found = _driver(plan, plan.resource_type)
        if found is not None:
            return found
    return Walk("resources r", Fragment("1 = 1"), [("r.pk", False)])


def _sort_expr(key: SortKey) -> str:
    if key.kind == "resource":
        return {"id": "r.id", "last_updated_us": "r.last_updated_us"}[key.field]
    aggregate = "MAX" if key.descending else "MIN"
    return (
        f"(SELECT {aggregate}(e.{key.field}) FROM idx_{key.kind} e "
        f"WHERE e.pk = r.pk AND e.param = '{_safe(key.param)}')"
    )


def _safe(param: str) -> str:
    # Parameter codes come from the registry ([A-Za-z0-9_-]); refuse anything else outright.
    if not all(ch.isalnum() or ch in "-_" for ch in param):
        raise ValueError(f"unexpected parameter code {param!r}")
    return param


def _sorted_walk(plan: SearchPlan) -> Walk:
    """Order the full match set by the sort keys (missing values last), then pk."""
    walk = _default_walk(plan)
    order: list[tuple[str, bool]] = []
    for key in plan.sort:
        expr = _sort_expr(key)
        order.append((f"({expr} IS NULL)", False))
        order.append((f"IFNULL({expr}, 0)", key.descending))
    walk.order = [*order, ("r.pk", False)]
    return walk


def _cursor_test(order: list[tuple[str, bool]], cursor: Cursor, back: bool) -> Fragment:
    """Rows strictly after (or before) the cursor in `order`."""
    values = [*cursor.sort_values, cursor.position]
    ors = []
    for i, (expr, desc) in enumerate(order):
        op = "<" if desc != back else ">"
        eqs = [Fragment(f"{order[j][0]} IS ?", [values[j]]) for j in range(i)]
        ors.append(all_of([*eqs, Fragment(f"{expr} {op} ?", [values[i]])]))
    return Fragment(
        "(" + " OR ".join(f"({p.text})" for p in ors) + ")", [a for p in ors for a in p.args]
    )


def _where(plan: SearchPlan, walk: Walk) -> Fragment:
    rtype = plan.resource_type
    parts = [walk.where, _type_filter(plan), Fragment("r.deleted = 0"), *walk.extra]
    parts += [predicate(c, "r", rtype) for c in plan.conditions]
    return all_of(parts)


def _rows(
    conn: sqlite3.Connection, plan: SearchPlan, walk: Walk, limit: int, back: bool
) -> list[tuple[object, ...]]:
    where = _where(plan, walk)
    if plan.cursor is not None:
        where = all_of([where, _cursor_test(walk.order, plan.cursor, back)])
    exprs = ", ".join(e for e, _ in walk.order[:-1])
    select = f"SELECT {_COLUMNS}{', ' + exprs if exprs else ''} FROM {walk.source}"
    order_by = ", ".join(f"{e} {'DESC' if d != back else 'ASC'}" for e, d in walk.order)
    sql = f"{select} WHERE {where.text} ORDER BY {order_by} LIMIT ?"
    rows = conn.execute(sql, [*where.args, limit]).fetchall()
    return list(reversed(rows)) if back else rows


def _version(row: tuple[object, ...]) -> StoredVersion:
    rtype, rid, version, updated, method, body, pk = row[:7]
    return StoredVersion(
        resource_type=str(rtype),
        id=str(rid),
        version=int(str(version)),
        last_updated_us=int(str(updated)),
        method=str(method),
        body=bytes(body) if isinstance(body, bytes | memoryview) else None,
        position=int(str(pk)),
    )


def _total(conn: sqlite3.Connection, plan: SearchPlan) -> int | None:
    if plan.total == "none":
        return None
    walk = _default_walk(plan)
    where = _where(plan, walk)
    inner = f"SELECT 1 FROM {walk.source} WHERE {where.text}"
    if plan.total == "accurate":
        return int(conn.execute(f"SELECT count(*) FROM ({inner})", where.args).fetchone()[0])
    limited = f"SELECT count(*) FROM ({inner} LIMIT ?)"
    found = int(conn.execute(limited, [*where.args, plan.estimate_limit + 1]).fetchone()[0])
    return found if found <= plan.estimate_limit else None


def search_page(conn: sqlite3.Connection, plan: SearchPlan) -> SearchPage:
    total = _total(conn, plan)
    if plan.count == 0:
        return SearchPage([], total, has_next=False, has_previous=False)
    walk = _sorted_walk(plan) if plan.sort else _default_walk(plan)
    back = plan.cursor is not None and plan.cursor.direction == "before"
    rows = _rows(conn, plan, walk, plan.count + 1, back)
    more = len(rows) > plan.count
    rows = rows[1:] if back and more else rows[: plan.count]
    matches = [_version(row) for row in rows]
    cursors = [Cursor(int(str(row[6])), "after", _cursor_of(row, walk)) for row in rows]
    extra = included(conn, plan, matches) if plan.includes else []
    has_next, has_previous = (True, more) if back else (more, plan.cursor is not None)
    return SearchPage(matches, total, has_next, has_previous, extra, cursors)


def _cursor_of(row: tuple[object, ...], walk: Walk) -> tuple[str | int | float | None, ...]:
    values = row[7 : 7 + len(walk.order) - 1]
    return tuple(v if isinstance(v, str | int | float) or v is None else str(v) for v in values)
