"""One page of search results: cursors, totals and includes over the chosen walk.

The page is read by walking one index in its own order (`search_walks`) and keeping the
rows that pass the other conditions, so a first page costs about the page, not the number
of matches. Every order ends with `pk`, so it is total, and a cursor (the last row's order
values) says exactly where the next page starts.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from fhir_server.search.plan import (
    ChainCondition,
    Cursor,
    HasCondition,
    ReferenceCondition,
    SearchPlan,
    UriCondition,
)
from fhir_server.storage.contracts import InvalidCursor, PastIndex, SearchPage
from fhir_server.storage.sqlite.held_walk import HeldWalk, held_walk
from fhir_server.storage.sqlite.rows import VERSION_COLUMNS, version_of
from fhir_server.storage.sqlite.search_sql import matching_pks, predicate
from fhir_server.storage.sqlite.search_walks import (
    Walk,
    count_up_to,
    default_walk,
    index_sort_walk,
    missing_walk,
    sorted_walk,
    sorts_whole,
    type_filter,
)
from fhir_server.storage.sqlite.sql import Fragment, all_of
from fhir_server.storage.sqlite.token_counts import kept_count

__all__ = ["explain", "search_page"]


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


def _seeks(walk: Walk, cursor: Cursor, back: bool) -> list[Fragment]:
    """Bounds implied by the cursor test, one per `walk.seeks` column, in a form SQLite
    seeks by: the column reaches the cursor's value only while every earlier term equals
    the cursor's (otherwise anything goes, hence the open end in the ELSE)."""
    values = [*cursor.sort_values, cursor.position]
    op, open_end = ("<=", _MAX_PK) if back else (">=", -1)
    bounds = []
    for position, column in walk.seeks:
        prefix = [Fragment(f"{walk.order[i][0]} IS ?", [values[i]]) for i in range(position)]
        if not prefix:
            bounds.append(Fragment(f"{column} {op} ?", [values[position]]))
            continue
        same = all_of(prefix)
        case = f"CASE WHEN {same.text} THEN ? ELSE {open_end} END"
        bounds.append(Fragment(f"{column} {op} {case}", [*same.args, values[position]]))
    return bounds


_MAX_PK = 2**63 - 1


def _where(plan: SearchPlan, walk: Walk) -> Fragment:
    rtype = plan.resource_type
    parts = [walk.where, type_filter(plan), Fragment("r.deleted = 0"), *walk.extra]
    # the walk's own condition is already enforced by the walk (entry walks re-check it
    # cheaply; a set walk would materialize its set twice)
    parts += [predicate(c, "r", rtype) for c in plan.conditions if c is not walk.used]
    return all_of(parts)


# The version columns with the body left unread (NULL), for rows only counted.
_WITHOUT_BODY = VERSION_COLUMNS.replace("r.body", "NULL")


def _page_query(
    plan: SearchPlan, walk: Walk, limit: int, back: bool, bodies: bool = True
) -> tuple[str, list[object]]:
    where = _where(plan, walk)
    if plan.cursor is not None:
        test = _cursor_test(walk.order, plan.cursor, back)
        where = all_of([where, test, *_seeks(walk, plan.cursor, back)])
    exprs = ", ".join(e for e, _ in walk.order[:-1])
    terms = list(walk.order)
    for position in sorted(walk.ties, reverse=True):
        terms.insert(position + 1, (walk.ties[position], walk.order[position][1]))
    order_by = ", ".join(f"{e} {'DESC' if d != back else 'ASC'}" for e, d in terms)
    columns = f"{VERSION_COLUMNS if bodies else _WITHOUT_BODY}{', ' + exprs if exprs else ''}"
    if walk.pks_first:  # the page's pks sorted alone, then only their rows read
        page = f"SELECT r.pk FROM {walk.source} WHERE {where.text} ORDER BY {order_by} LIMIT ?"
        select = f"SELECT {columns} FROM resources r WHERE r.pk IN ({page})"
        return f"{select} ORDER BY {order_by}", [*where.args, limit]
    select = f"SELECT {columns} FROM {walk.source}"
    return f"{select} WHERE {where.text} ORDER BY {order_by} LIMIT ?", [*where.args, limit]


def _walks(conn: sqlite3.Connection, plan: SearchPlan) -> tuple[Walk, Walk | None, Walk]:
    """The plan's default walk (what totals count over), its index sort walk if any, and
    the walk that reads the page; the default walk is built once, since building it can
    resolve a chain or `_has` into its set."""
    default = default_walk(conn, plan)
    if not plan.sort:
        return default, None, default
    # A later page keeps the walk its first page chose, which the cursor's shape tells,
    # even if the match count has since crossed the line that chose it (SORT_CAP).
    cursor = plan.cursor
    chosen = None if cursor is None else not sorts_whole(plan, cursor.sort_values)
    index_walk = index_sort_walk(conn, plan, default, chosen)
    return default, index_walk, index_walk or sorted_walk(plan, default)


def explain(conn: sqlite3.Connection, plan: SearchPlan) -> list[str]:
    """SQLite's query plan for the first page of `plan` (tests check it uses indexes)."""
    walk = _walks(conn, plan)[2]
    sql, args = _page_query(plan, walk, plan.count + 1, back=False)
    return [str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args)]


def _rows(
    conn: sqlite3.Connection,
    plan: SearchPlan,
    walk: Walk,
    limit: int,
    back: bool,
    bodies: bool = True,
) -> list[tuple[object, ...]]:
    sql, args = _page_query(plan, walk, limit, back, bodies)
    rows = conn.execute(sql, args).fetchall()
    return list(reversed(rows)) if back else rows


def _with_bodies(
    conn: sqlite3.Connection, rows: list[tuple[object, ...]]
) -> list[tuple[object, ...]]:
    """`rows` read without their bodies, with them (one lookup by pk each)."""
    if not rows:
        return rows
    pks = [row[6] for row in rows]
    marks = ", ".join("?" for _ in pks)
    sql = f"SELECT pk, body FROM resources WHERE pk IN ({marks})"
    bodies = dict(conn.execute(sql, pks).fetchall())
    return [(*row[:5], bodies[row[6]], *row[6:]) for row in rows]


def _total(conn: sqlite3.Connection, plan: SearchPlan, walk: Walk) -> int | None:
    """The total the plan asks for, counted over its default `walk`."""
    if plan.total == "none":
        return None
    if plan.total == "accurate":
        return _accurate_total(conn, plan, walk)
    where = _where(plan, walk)
    limited = f"SELECT count(*) FROM (SELECT 1 FROM {walk.source} WHERE {where.text} LIMIT ?)"
    found = int(conn.execute(limited, [*where.args, plan.estimate_limit + 1]).fetchone()[0])
    return found if found <= plan.estimate_limit else None


def _accurate_total(conn: sqlite3.Connection, plan: SearchPlan, walk: Walk) -> int:
    """A type search on one token system|code reads its kept count; on another exact
    value, counts its index rows; otherwise counts what `walk` finds."""
    kept = kept_count(conn, plan)
    if kept is not None:
        return kept
    counted = _index_count(plan)
    if counted is None:
        counting = _counting_walk(conn, plan, walk)
        where = _where(plan, counting)
        counted = Fragment(f"SELECT 1 FROM {counting.source} WHERE {where.text}", where.args)
    sql = f"SELECT count(*) FROM ({counted.text})"
    return int(conn.execute(sql, counted.args).fetchone()[0])


def _counting_walk(conn: sqlite3.Connection, plan: SearchPlan, walk: Walk) -> Walk:
    """The walk an accurate count reads. A chain or `_has` that the page probes per
    candidate (its set was too large to drive the page) is resolved into its set instead
    when that is cheaper: a count visits every match anyway, and a set member costs an
    index read or two where a probe costs a join per resource of the type (at 1M
    resources, chain counts went from 0.8-2 s to 10-260 ms). A `_has` whose referring
    resources outnumber the candidates stays probed."""
    rtype = plan.resource_type
    if rtype is not None and walk.from_far_end and walk.used is not None:
        # a chain walked from its far end visits every path to count them; its set costs
        # an index read per member
        members = Fragment("r.pk IN (") + matching_pks(rtype, walk.used) + Fragment(")")
        return Walk("resources r", members, [("r.pk", False)], used=walk.used)
    if walk.used is not None or walk.source != "resources r" or rtype is None:
        return walk
    for cond in plan.conditions:
        if isinstance(cond, HasCondition) and not _sources_fewer(conn, rtype, cond):
            continue
        if isinstance(cond, ChainCondition | HasCondition):
            driver = Fragment("r.pk IN (") + matching_pks(rtype, cond) + Fragment(")")
            return replace(walk, where=all_of([walk.where, driver]), used=cond)
    return walk


def _sources_fewer(conn: sqlite3.Connection, rtype: str, cond: HasCondition) -> bool:
    """Whether fewer `cond.source_type` resources satisfy `cond`'s inner condition than
    there are `rtype` resources to probe (deleted ones too: the type's index alone is
    read), the first count capped at the second."""
    typed = "SELECT count(*) FROM resources WHERE type = ?"
    candidates = int(conn.execute(typed, [rtype]).fetchone()[0])
    sources = matching_pks(cond.source_type, cond.condition)
    return count_up_to(conn, sources, candidates) < candidates


def _index_count(plan: SearchPlan) -> Fragment | None:
    """For a type search on one exact uri or reference, the matches are the resources of
    the index rows found (entries exist only for current resources), so counting reads the
    index alone: a resource has one uri row per value, but can refer to one target at
    several versions, so references count distinct resources."""
    if plan.resource_type is None or len(plan.conditions) != 1:
        return None
    match plan.conditions[0]:
        case UriCondition(_, (_,), "exact"):
            distinct = False
        case ReferenceCondition(_, (_,)):
            distinct = True
        case _:
            return None  # ranges, prefixes, bare codes: several entries of one resource
    pks = matching_pks(plan.resource_type, plan.conditions[0])
    return Fragment("SELECT DISTINCT pk FROM (") + pks + Fragment(")") if distinct else pks


def search_page(
    conn: sqlite3.Connection, plan: SearchPlan, past_index: PastIndex | None = None
) -> SearchPage:
    default, index_walk, walk = _walks(conn, plan)
    if plan.count == 0:
        return SearchPage([], _total(conn, plan, default), has_next=False, has_previous=False)
    if index_walk is not None:
        held = held_walk(conn, plan, [index_walk, missing_walk(plan)], past_index)
        return _index_sorted_page(conn, plan, held, _total(conn, plan, default))
    held = held_walk(conn, plan, [walk], past_index)
    back = plan.cursor is not None and plan.cursor.direction == "before"
    # A first page with an estimated total reads on to the estimate's limit: the rows past
    # the page are its count, where a second query would walk them again (for a probed
    # chain or `_has`, as dear as the page itself). Those rows are only counted, so the walk
    # leaves the bodies unread and the page's own are read after it: a body is the dearest
    # part of a row (`Patient?gender=female&_count=5` at 1M resources: 1.4 -> 0.5 ms).
    estimated_here = plan.cursor is None and plan.total == "estimate"
    limit = max(plan.count, plan.estimate_limit) + 1 if estimated_here else plan.count + 1
    walked = _rows(conn, plan, held.walk(0), limit, back, bodies=not estimated_here)
    rows = [row for _, row in held.merge([(0, row) for row in walked], plan.cursor, limit)]
    more = len(rows) > plan.count
    # A first page that holds every match is its own count: no second query.
    complete = plan.cursor is None and not more and plan.total != "none"
    if estimated_here:
        total = len(rows) if len(rows) <= plan.estimate_limit else None
    else:
        total = len(rows) if complete else _total(conn, plan, default)
    rows = rows[1:] if back and more else rows[: plan.count]
    if estimated_here:
        rows = _with_bodies(conn, rows)
    matches = [version_of(row) for row in rows]
    cursors = [
        Cursor(int(str(row[6])), "after", _cursor_of(row, walk), snapshot=held.mark) for row in rows
    ]
    has_next, has_previous = (True, more) if back else (more, plan.cursor is not None)
    return SearchPage(matches, total, has_next, has_previous, [], cursors)


def _cursor_of(row: tuple[object, ...], walk: Walk) -> tuple[str | int | float | None, ...]:
    values = row[7 : 7 + len(walk.order) - 1]
    return tuple(v if isinstance(v, str | int | float) or v is None else str(v) for v in values)


def _index_sorted_page(
    conn: sqlite3.Connection, plan: SearchPlan, held: HeldWalk, total: int | None
) -> SearchPage:
    """Forward-only paging over the sort index, then the resources without a first sort
    value (their cursors marked as the second phase). No `previous` link in this mode:
    the two phases would have to be walked backwards."""
    cursor = plan.cursor
    in_missing = cursor is not None and cursor.second_phase
    walked: list[tuple[int, tuple[object, ...]]] = []
    if not in_missing:
        walked = [(0, r) for r in _rows(conn, plan, held.walk(0), plan.count + 1, back=False)]
    if len(walked) <= plan.count:
        tail_plan = replace(plan, cursor=None)
        if in_missing and cursor is not None:
            tail_plan = replace(plan, cursor=Cursor(cursor.position, "after", cursor.sort_values))
        tail = _rows(conn, tail_plan, held.walk(1), plan.count + 1 - len(walked), back=False)
        walked += [(1, r) for r in tail]
    rows = held.merge(walked, cursor, plan.count + 1)
    more = len(rows) > plan.count
    rows = rows[: plan.count]
    matches = [version_of(row) for _, row in rows]
    cursors = [
        Cursor(
            int(str(row[6])),
            "after",
            _cursor_of(row, held.walks[phase]),
            second_phase=phase == 1,
            snapshot=held.mark,
        )
        for phase, row in rows
    ]
    return SearchPage(matches, total, more, False, [], cursors)
