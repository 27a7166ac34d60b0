"""Choosing how a page is read: which index to walk, in which order (see search_page).

- an equality on a token with system, a typed reference, an exact uri, or `_id`: that
  index, in `pk` order;
- otherwise a single date, number or string-prefix value: that index, in value order,
  from a floor for dates;
- otherwise, unsorted, a chain whose every level refers at most once: from its far end
  (chain_walk);
- otherwise `_list`, a compartment or a chain resolving to at most SMALL_SET resources, or
  a `_has` whose referring resources are at most SMALL_SET: that set, resolved once (the
  page and its count do not compute it again), driving the page in `pk` order, the page's
  pks sorted before any body is read; a larger `_list` or compartment: the type's
  resources by `pk`, the set as a filter;
- otherwise the type's resources, by `pk`;
- across several types, a condition with one part per type (`Patient/123/*`): its members,
  resolved once when few, else as a filter on every resource, by `pk`.
`_sort` with no condition walked by an index, or with one matching SORT_CAP entries or
more, walks the first sort parameter's index (ties ordered by the other keys), then the
resources without a value; any other sort orders the whole match set.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace

from fhir_server.search.plan import (
    MIDDLE,
    AnyOf,
    ChainCondition,
    Condition,
    HasCondition,
    IdCondition,
    ListCondition,
    SearchPlan,
    SortKey,
    reads_only_its_own,
)
from fhir_server.storage.sqlite.chain_walk import chain_walk
from fhir_server.storage.sqlite.entry_walks import Walk, equality_walk, range_walk
from fhir_server.storage.sqlite.rows import pk_list
from fhir_server.storage.sqlite.search_sql import entry_tests, matching_pks, typed_pks
from fhir_server.storage.sqlite.sql import Fragment

__all__ = [
    "Walk",
    "count_up_to",
    "default_walk",
    "index_sort_walk",
    "missing_walk",
    "sorted_walk",
    "sorts_whole",
    "type_filter",
]


def type_filter(plan: SearchPlan) -> Fragment:
    if plan.resource_type is not None:
        return Fragment("r.type = ?", [plan.resource_type])
    if plan.types:
        return Fragment(f"r.type IN ({', '.join('?' for _ in plan.types)})", list(plan.types))
    return Fragment("1 = 1")


def _driver(conn: sqlite3.Connection, plan: SearchPlan, rtype: str) -> Walk | None:
    """The first condition that can drive the walk: equalities (pk order) first, then a
    single range or prefix (value order). The walk enforces that condition itself."""
    for cond in plan.conditions:
        walk = equality_walk(cond, rtype)
        if walk is not None:
            walk.used = cond
            return walk
    for cond in plan.conditions:
        walk = range_walk(conn, cond, rtype)
        if walk is not None:
            walk.used = cond
            return walk
    return None


# A chain resolving to more resources than this is walked by probing each candidate
# instead: a dense match fills the page quickly, and materializing it would cost the set.
SMALL_SET = 2000


def _small_set(conn: sqlite3.Connection, members: Fragment) -> list[int] | None:
    """The pks `members` selects, if at most SMALL_SET: resolved once here, so neither
    the page nor its count computes the set again."""
    sql = f"SELECT DISTINCT pk FROM ({members.text}) LIMIT ?"
    rows = conn.execute(sql, [*members.args, SMALL_SET + 1]).fetchall()
    return sorted(int(row[0]) for row in rows) if len(rows) <= SMALL_SET else None


def _sources_are_few(conn: sqlite3.Connection, cond: HasCondition) -> bool:
    """A `_has` whose referring resources are few (a rare code) is resolved from them;
    otherwise each candidate is probed (an unselective `_has` fills the page at once).
    Counted only when the referring resources come straight from one index: a set inside
    a set (a nested `_has`, a chain) would be materialized whole just to be counted."""
    inner = cond.condition
    tests = entry_tests(inner)
    direct = tests is not None and not any(negated for negated, _ in tests[1])
    if not (direct or isinstance(inner, IdCondition)):
        return False
    sources = matching_pks(cond.source_type, inner)
    return count_up_to(conn, sources, SMALL_SET + 1) <= SMALL_SET


def count_up_to(conn: sqlite3.Connection, query: Fragment, cap: int) -> int:
    """How many rows `query` yields, counting no further than `cap`."""
    sql = f"SELECT count(*) FROM (SELECT 1 FROM ({query.text}) LIMIT ?)"
    return int(conn.execute(sql, [*query.args, cap]).fetchone()[0])


def default_walk(conn: sqlite3.Connection, plan: SearchPlan) -> Walk:
    rtype = plan.resource_type
    if rtype is not None:
        found = _driver(conn, plan, rtype)
        if found is not None:
            return found
        for cond in plan.conditions:
            # unsorted: a sort would read every match, whichever end the walk starts at
            if isinstance(cond, ChainCondition) and not plan.sort:
                found = chain_walk(conn, cond, rtype)
                if found is not None:
                    return found
        for cond in plan.conditions:
            if isinstance(cond, ListCondition | AnyOf | ChainCondition) or (
                isinstance(cond, HasCondition) and _sources_are_few(conn, cond)
            ):
                pks = _small_set(conn, matching_pks(rtype, cond))
                if pks is not None:
                    return _set_walk(pks, cond)
                if isinstance(cond, ListCondition | AnyOf):
                    # A large list or compartment: walk it by pk, the set as a filter.
                    members = Fragment("r.pk IN (") + matching_pks(rtype, cond) + Fragment(")")
                    own = reads_only_its_own(cond)
                    return Walk("resources r", members, [("r.pk", False)], cond, own_where=own)
    else:
        # a search over several types, each with its own condition (`Patient/123/*`)
        for cond in plan.conditions:
            typed = typed_pks(cond)
            if typed is not None:
                pks = _small_set(conn, typed)
                if pks is not None:
                    return _set_walk(pks, cond)
                members = Fragment("r.pk IN (") + typed + Fragment(")")
                return Walk("resources r", members, [("r.pk", False)], used=cond)
    return Walk("resources r", Fragment("1 = 1"), [("r.pk", False)])


def _set_walk(pks: list[int], cond: Condition) -> Walk:
    """Walk a resolved set of pks, the set driving the join: with `r.pk IN (set)`, a
    cursor's `r.pk > ?` made SQLite walk every resource past the cursor instead. The
    pks are integers of our own, so they are written into the statement as a literal."""
    source = f"json_each('{pk_list(pks)}') resolved CROSS JOIN resources r ON r.pk = resolved.value"
    return Walk(source, Fragment("1 = 1"), [("r.pk", False)], used=cond, pks_first=True)


def _sort_expr(key: SortKey) -> str:
    if key.kind == "resource":
        return {"id": "r.id", "last_updated_us": "r.last_updated_us"}[key.field]
    aggregate = "MAX" if key.descending else "MIN"
    value = _entry_value("e", key)
    return (
        f"(SELECT {aggregate}({value}) FROM idx_{key.kind} e "
        f"WHERE e.pk = r.pk AND e.param = '{_safe(key.param)}')"
    )


def _present(key: SortKey) -> str:
    """The column that holds a value whenever the key has one."""
    return "low" if key.field == MIDDLE else key.field


def _safe(param: str) -> str:
    # Parameter codes come from the registry ([A-Za-z0-9_-]); refuse anything else outright.
    if not all(ch.isalnum() or ch in "-_" for ch in param):
        raise ValueError(f"unexpected parameter code {param!r}")
    return param


# A condition walked by its index (an equality, a range, a prefix) that matches at least
# this many entries is not sorted whole: the sort parameter's index is walked in order
# instead, the condition checked per row.
SORT_CAP = 10_000


def index_sort_walk(
    conn: sqlite3.Connection, plan: SearchPlan, default: Walk, chosen: bool | None = None
) -> Walk | None:
    """With no equality to walk by (`default` is the plan's `default_walk`), or an
    equality with too many matches to sort, walk the first sort parameter's own index in
    sort order: each resource at its lowest (ascending) or highest (descending) entry.
    Further sort keys only order the resources that tie on the first one (SQLite sorts
    each run of equal first values, and stops at the page's end). `chosen` (a later
    page) says which of the two walks the first page took."""
    if not plan.sort or plan.resource_type is None:
        return None
    key = plan.sort[0]
    if key.kind == "resource" or chosen is False:
        return None
    if chosen is None and _sorts_its_matches(conn, default):
        return None
    table, desc = f"idx_{key.kind}", key.descending
    value, other = _entry_value("s", key), _entry_value("s2", key)
    better = ">" if desc else "<"
    # the middle's index named: without statistics SQLite may prefer another index of
    # the table that covers low and high, and sort every entry
    named = f" INDEXED BY {table}_middle" if key.field == MIDDLE else ""
    walk = Walk(
        f"{table} s{named} JOIN resources r ON r.pk = s.pk",
        # entries without the field (a token of text alone) are no sort value: MIN() and
        # MAX() skip them too
        Fragment(
            f"s.type = ? AND s.param = ? AND s.{_present(key)} IS NOT NULL",
            [plan.resource_type, key.param],
        ),
        [(value, desc), *_key_order(plan.sort[1:]), ("s.pk", False)],
    )
    # the pk index holds a column's values in order (schema.PK_INDEXES): bounded by the
    # entry's own value, the look for a better entry of the resource starts next to it
    bound = "" if key.field == MIDDLE else f"AND {other} {better}= {value} "
    walk.extra.append(
        Fragment(
            f"NOT EXISTS (SELECT 1 FROM {table} s2 INDEXED BY {table}_pk WHERE s2.pk = s.pk "
            f"AND s2.param = s.param AND s2.type = s.type {bound}"
            f"AND ({other}, s2.rowid) {better} ({value}, s.rowid))"
        )
    )
    return walk


def _sorts_its_matches(conn: sqlite3.Connection, default: Walk) -> bool:
    if default.entry_table is not None and not _at_least(conn, default, SORT_CAP):
        return True  # an index walk (equality, range, prefix) with few enough to sort
    # an _id or set walk: sort what it holds
    return default.order == [("r.pk", False)] and default.used is not None


def sorts_whole(plan: SearchPlan, sort_values: tuple[object, ...]) -> bool:
    """Whether a cursor's values are those of `sorted_walk` (two per sort key) rather than
    of `index_sort_walk` (the first key's value, then two per other key)."""
    return len(sort_values) == 2 * len(plan.sort)


def _entry_value(alias: str, key: SortKey) -> str:
    """The sort value of one entry, as the walked index holds it (a number's middle is
    an expression index: `idx_number_middle`, `idx_quantity_middle`)."""
    if key.field == MIDDLE:
        return f"(({alias}.low + {alias}.high) / 2.0)"
    return f"{alias}.{key.field}"


def _at_least(conn: sqlite3.Connection, walk: Walk, count: int) -> bool:
    """Whether an entry walk yields `count` entries or more (read from its index alone)."""
    assert walk.entry_table is not None
    sql = (
        f"SELECT count(*) FROM (SELECT 1 FROM {walk.entry_table} d WHERE {walk.where.text} LIMIT ?)"
    )
    return int(conn.execute(sql, [*walk.where.args, count]).fetchone()[0]) >= count


def missing_walk(plan: SearchPlan) -> Walk:
    """After the index walk of `index_sort_walk`: the resources with no value for the first
    sort key, in the order of the others."""
    key = plan.sort[0]
    absent = Fragment(
        f"NOT EXISTS (SELECT 1 FROM idx_{key.kind} s2 INDEXED BY idx_{key.kind}_pk "
        f"WHERE s2.pk = r.pk AND s2.param = ? AND s2.{_present(key)} IS NOT NULL)",
        [key.param],
    )
    return Walk("resources r", absent, [*_key_order(plan.sort[1:]), ("r.pk", False)])


def sorted_walk(plan: SearchPlan, default: Walk) -> Walk:
    """The plan's `default_walk` with its full match set ordered by the sort keys (missing
    values last), then pk."""
    return replace(default, order=[*_key_order(plan.sort), ("r.pk", False)])


def _key_order(keys: Sequence[SortKey]) -> list[tuple[str, bool]]:
    """ORDER BY terms for sort keys: per key, resources without a value after those with."""
    order: list[tuple[str, bool]] = []
    for key in keys:
        expr = _sort_expr(key)
        order.append((f"({expr} IS NULL)", False))
        order.append((f"IFNULL({expr}, 0)", key.descending))
    return order
