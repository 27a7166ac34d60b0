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
from dataclasses import dataclass, field, replace

from fhir_server.search.plan import (
    AnyOf,
    ChainCondition,
    Condition,
    Cursor,
    DateCondition,
    IdCondition,
    ListCondition,
    NumberCondition,
    RangeMatch,
    ReferenceCondition,
    SearchPlan,
    SortKey,
    StringCondition,
    TokenCondition,
    UriCondition,
)
from fhir_server.storage.contracts import InvalidCursor, SearchPage, StoredVersion
from fhir_server.storage.sqlite.entry_match import (
    bounds_on,
    prefix_range,
    reference_match,
    token_match,
)
from fhir_server.storage.sqlite.search_includes import included
from fhir_server.storage.sqlite.search_sql import entry_tests, matching_pks, predicate
from fhir_server.storage.sqlite.sql import Fragment, all_of

__all__ = ["explain", "search_page"]

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
                f"NOT EXISTS (SELECT 1 FROM {table} d2 INDEXED BY {table}_pk "
                f"WHERE d2.pk = d.pk AND d2.param = d.param "
                f"AND d2.type = d.type AND ",
            )
            + Fragment(test.text.replace("d.", "d2."), list(test.args))
            + Fragment(f" AND ({keys2}, d2.rowid) < ({keys}, d.rowid))")
        )
    return walk


def _driver(conn: sqlite3.Connection, plan: SearchPlan, rtype: str) -> Walk | None:
    """The first condition that can drive the walk: equalities (pk order) first, then a
    single range or prefix (value order). The walk enforces that condition itself."""
    for cond in plan.conditions:
        walk = _equality_walk(cond, rtype)
        if walk is not None:
            walk.used = cond
            return walk
    for cond in plan.conditions:
        walk = _range_walk(conn, cond, rtype)
        if walk is not None:
            walk.used = cond
            return walk
    return None


def _equality_walk(cond: Condition, rtype: str) -> Walk | None:
    match cond:
        case IdCondition():
            marks = ", ".join("?" for _ in cond.ids)
            return Walk(
                "resources r", Fragment(f"r.id IN ({marks})", list(cond.ids)), [("r.pk", False)]
            )
        case TokenCondition(param, (value,), False) if value.code and value.system_given:
            return _entry_walk("idx_token", param, rtype, token_match("d", value), ["d.pk"])
        case ReferenceCondition(param, (value,)) if value.target_id and value.target_type:
            return _entry_walk("idx_reference", param, rtype, reference_match("d", value), ["d.pk"])
        case UriCondition(param, (value,), "exact"):
            return _entry_walk("idx_uri", param, rtype, Fragment("d.value = ?", [value]), ["d.pk"])
    return None


def _range_walk(conn: sqlite3.Connection, cond: Condition, rtype: str) -> Walk | None:
    match cond:
        case DateCondition(param, (m,)) if not m.negated:
            test = all_of([bounds_on("d", m), _low_floor(conn, rtype, param, m)])
            return _entry_walk("idx_date", param, rtype, test, ["d.low", "d.high", "d.pk"])
        case NumberCondition(param, (m,)) if not m.negated:
            order = ["d.low", "d.high", "d.pk"]
            return _entry_walk("idx_number", param, rtype, bounds_on("d", m), order)
        case StringCondition(param, (value,), "starts"):
            test = prefix_range("d.value", value)
            return _entry_walk("idx_string", param, rtype, test, ["d.value", "d.pk"])
    return None


# A chain resolving to more resources than this is walked by probing each candidate
# instead: a dense match fills the page quickly, and materializing it would cost the set.
SMALL_SET = 2000


def _set_is_small(conn: sqlite3.Connection, rtype: str, cond: Condition) -> bool:
    members = matching_pks(rtype, cond)
    sql = f"SELECT count(*) FROM (SELECT 1 FROM ({members.text}) LIMIT ?)"
    return int(conn.execute(sql, [*members.args, SMALL_SET + 1]).fetchone()[0]) <= SMALL_SET


def _low_floor(conn: sqlite3.Connection, rtype: str, param: str, match: RangeMatch) -> Fragment:
    """A redundant lower bound on `low` that lets the walk start near the matches: a range
    whose high end reaches past A began at the earliest A minus the widest range indexed."""
    floors = [b.value for b in match.bounds if b.end == "high" and b.op in (">", ">=")]
    if not floors:
        return Fragment("1 = 1")
    row = conn.execute(
        "SELECT width FROM date_widths WHERE type = ? AND param = ?", (rtype, param)
    ).fetchone()
    width = int(row[0]) if row else 0
    return Fragment("d.low >= ?", [int(max(floors)) - width])


def _default_walk(conn: sqlite3.Connection, plan: SearchPlan) -> Walk:
    rtype = plan.resource_type
    if rtype is not None:
        found = _driver(conn, plan, rtype)
        if found is not None:
            return found
        for cond in plan.conditions:
            if isinstance(cond, ListCondition | AnyOf) or (
                isinstance(cond, ChainCondition) and _set_is_small(conn, rtype, cond)
            ):
                # Walk the (selective) set the condition resolves to, by pk.
                members = Fragment("r.pk IN (") + matching_pks(rtype, cond) + Fragment(")")
                return Walk("resources r", members, [("r.pk", False)], used=cond)
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


MISSING = "~missing"  # cursor mark: the walk has reached the resources without a sort value


def _index_sort_walk(conn: sqlite3.Connection, plan: SearchPlan) -> Walk | None:
    """With one sort key and no equality to walk by, walk the sort parameter's own index in
    sort order: each resource at its lowest (ascending) or highest (descending) entry."""
    if len(plan.sort) != 1 or plan.resource_type is None:
        return None
    key = plan.sort[0]
    default = _default_walk(conn, plan)
    if key.kind == "resource" or default.order == [("d.pk", False)]:
        return None  # an equality walk: its matches are few enough to sort
    if default.source == "resources r" and default.used is not None:
        return None  # an _id or set walk: sort what it holds
    table, column, desc = f"idx_{key.kind}", key.field, key.descending
    better = ">" if desc else "<"
    walk = Walk(
        f"{table} s JOIN resources r ON r.pk = s.pk",
        Fragment("s.type = ? AND s.param = ?", [plan.resource_type, key.param]),
        [(f"s.{column}", desc), ("s.pk", desc)],
    )
    walk.extra.append(
        Fragment(
            f"NOT EXISTS (SELECT 1 FROM {table} s2 INDEXED BY {table}_pk WHERE s2.pk = s.pk "
            f"AND s2.param = s.param AND s2.type = s.type "
            f"AND (s2.{column}, s2.rowid) {better} (s.{column}, s.rowid))"
        )
    )
    return walk


def _missing_walk(plan: SearchPlan) -> Walk:
    """After the index walk of `_index_sort_walk`: the resources with no sort value."""
    key = plan.sort[0]
    absent = Fragment(
        f"NOT EXISTS (SELECT 1 FROM idx_{key.kind} s2 INDEXED BY idx_{key.kind}_pk "
        f"WHERE s2.pk = r.pk AND s2.param = ?)",
        [key.param],
    )
    return Walk("resources r", absent, [("r.pk", False)])


def _sorted_walk(conn: sqlite3.Connection, plan: SearchPlan) -> Walk:
    """Order the full match set by the sort keys (missing values last), then pk."""
    walk = _default_walk(conn, plan)
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
    if len(values) != len(order):
        raise InvalidCursor("the cursor does not fit this search's order")
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
    # the walk's own condition is already enforced by the walk (entry walks re-check it
    # cheaply; a set walk would materialize its set twice)
    parts += [predicate(c, "r", rtype) for c in plan.conditions if c is not walk.used]
    return all_of(parts)


def _page_query(plan: SearchPlan, walk: Walk, limit: int, back: bool) -> tuple[str, list[object]]:
    where = _where(plan, walk)
    if plan.cursor is not None:
        where = all_of([where, _cursor_test(walk.order, plan.cursor, back)])
    exprs = ", ".join(e for e, _ in walk.order[:-1])
    select = f"SELECT {_COLUMNS}{', ' + exprs if exprs else ''} FROM {walk.source}"
    order_by = ", ".join(f"{e} {'DESC' if d != back else 'ASC'}" for e, d in walk.order)
    return f"{select} WHERE {where.text} ORDER BY {order_by} LIMIT ?", [*where.args, limit]


def explain(conn: sqlite3.Connection, plan: SearchPlan) -> list[str]:
    """SQLite's query plan for the first page of `plan` (tests check it uses indexes)."""
    index_walk = _index_sort_walk(conn, plan) if plan.sort else None
    walk = index_walk or (_sorted_walk(conn, plan) if plan.sort else _default_walk(conn, plan))
    sql, args = _page_query(plan, walk, plan.count + 1, back=False)
    return [str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args)]


def _rows(
    conn: sqlite3.Connection, plan: SearchPlan, walk: Walk, limit: int, back: bool
) -> list[tuple[object, ...]]:
    sql, args = _page_query(plan, walk, limit, back)
    rows = conn.execute(sql, args).fetchall()
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
    fast = _index_count(plan)
    if fast is not None and plan.total == "accurate":
        return int(conn.execute(f"SELECT count(*) FROM ({fast.text})", fast.args).fetchone()[0])
    walk = _default_walk(conn, plan)
    where = _where(plan, walk)
    inner = f"SELECT 1 FROM {walk.source} WHERE {where.text}"
    if plan.total == "accurate":
        return int(conn.execute(f"SELECT count(*) FROM ({inner})", where.args).fetchone()[0])
    limited = f"SELECT count(*) FROM ({inner} LIMIT ?)"
    found = int(conn.execute(limited, [*where.args, plan.estimate_limit + 1]).fetchone()[0])
    return found if found <= plan.estimate_limit else None


def _index_count(plan: SearchPlan) -> Fragment | None:
    """For a type search on one single-valued indexable condition, the matches are exactly
    the index rows (one per resource: rows are distinct, entries exist only for current
    resources), so counting reads the index alone."""
    if plan.resource_type is None or len(plan.conditions) != 1:
        return None
    (cond,) = plan.conditions
    tests = entry_tests(cond)
    if tests is None or len(tests[1]) != 1 or tests[1][0][0]:
        return None
    exact = (isinstance(cond, TokenCondition) and cond.values[0].system_given) or isinstance(
        cond, ReferenceCondition | UriCondition
    )
    # ranges, prefixes and system-less codes can match several entries of one resource
    return matching_pks(plan.resource_type, cond) if exact else None


def search_page(conn: sqlite3.Connection, plan: SearchPlan) -> SearchPage:
    total = _total(conn, plan)
    if plan.count == 0:
        return SearchPage([], total, has_next=False, has_previous=False)
    index_walk = _index_sort_walk(conn, plan) if plan.sort else None
    if index_walk is not None:
        return _index_sorted_page(conn, plan, index_walk, total)
    walk = _sorted_walk(conn, plan) if plan.sort else _default_walk(conn, plan)
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


def _index_sorted_page(
    conn: sqlite3.Connection, plan: SearchPlan, walk: Walk, total: int | None
) -> SearchPage:
    """Forward-only paging over the sort index, then the resources without a value.
    (No `previous` link in this mode: the two phases would have to be walked backwards.)"""
    cursor = plan.cursor
    in_missing = cursor is not None and cursor.sort_values == (MISSING,)
    rows: list[tuple[object, ...]] = []
    cursors: list[Cursor] = []
    if not in_missing:
        rows = _rows(conn, plan, walk, plan.count + 1, back=False)
        cursors = [Cursor(int(str(r[6])), "after", _cursor_of(r, walk)) for r in rows]
    if len(rows) <= plan.count:
        missing = _missing_walk(plan)
        tail_plan = plan if in_missing else replace(plan, cursor=None)
        if in_missing and cursor is not None:
            tail_plan = replace(plan, cursor=Cursor(cursor.position, "after"))
        tail = _rows(conn, tail_plan, missing, plan.count + 1 - len(rows), back=False)
        rows += tail
        cursors += [Cursor(int(str(r[6])), "after", (MISSING,)) for r in tail]
    more = len(rows) > plan.count
    rows, cursors = rows[: plan.count], cursors[: plan.count]
    matches = [_version(row) for row in rows]
    extra = included(conn, plan, matches) if plan.includes else []
    return SearchPage(matches, total, more, False, extra, cursors)
