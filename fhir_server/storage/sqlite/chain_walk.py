"""A chain walked from its far end, so that its first page costs about the page.

`Observation?encounter.service-provider.name=PCP` can be read from either end:
- target first, every Encounter of the organization, then their Observations, sorted by
  pk: the page costs the organization's Encounters (29 at 10k resources, 2,146 at 1M);
- from the near end, Observations by pk, each probed up the chain: a sparse chain reads
  most Observations before twenty match (450 ms at 1M).
Walked from the far end instead, the page reads the matching organizations in their own
index's order, each one's Encounters in pk order, and each Encounter's Observations in pk
order, and stops at the page's end.

The walk's order is then (the far end's order..., the pk of each level's referring
resource, nearest last), a total order a cursor can resume. It shows each resource once
only because every level refers at most once (`ChainCondition.refers_once`: a 0..1
element) and the far end's walk shows each target once; any other chain has no such walk.
"""

from __future__ import annotations

import sqlite3

from fhir_server.search.plan import ChainCondition, Condition, reads_only_its_own
from fhir_server.storage.sqlite.entry_walks import Walk, equality_walk, range_walk
from fhir_server.storage.sqlite.search_sql import matching_pks
from fhir_server.storage.sqlite.sql import Fragment, all_of

__all__ = ["chain_walk"]


def chain_walk(conn: sqlite3.Connection, cond: ChainCondition, rtype: str) -> Walk | None:
    """The far-end walk of `cond` on `rtype` resources (row alias `r`), or None when some
    level may refer more than once or to several types."""
    levels: list[tuple[str, str, str]] = []  # (referring type, parameter, target type)
    referring: str = rtype
    current: Condition = cond
    while isinstance(current, ChainCondition):
        if not current.refers_once or len(current.target_types) != 1:
            return None
        levels.append((referring, current.param, current.target_types[0]))
        referring, current = current.target_types[0], current.condition
    if not reads_only_its_own(current):
        # a far end decided by yet other resources (`_has`): the walk's places would
        # depend on resources off its paths, which a held walk could not place
        return None
    walk = _far_end(conn, current, referring, f"t{len(levels)}")
    where = [walk.where, *walk.extra]
    order = list(walk.order)
    # SQLite takes an inner loop's order only after outer loops whose ORDER BY terms single
    # out their row: an index entry's (value, pk) does not, its rowid does. Each target and
    # each reference is shown at one row only (the far end's walk, `_first_row`), so the
    # rowids never separate two rows of a page.
    ties = {len(order) - 1: "d.rowid"} if walk.entry_table is not None else {}
    seeks = []
    for level in reversed(range(len(levels))):
        referring, param, _ = levels[level]
        target, ref = f"t{level + 1}", f"k{level}"
        row = "r" if level == 0 else f"t{level}"
        walk.source += (
            f" CROSS JOIN idx_reference {ref} ON {ref}.target_id = {target}.id"
            f" AND {ref}.target_type = {target}.type"
            f" CROSS JOIN resources {row} ON {row}.pk = {ref}.pk"
        )
        where += [Fragment(f"{ref}.type = ? AND {ref}.param = ?", [referring, param])]
        where += [_first_row(ref)]
        if level > 0:  # the page's own resources are checked by the page
            where += [Fragment(f"{row}.deleted = 0")]
        # ordered by the index's own column (the same value as `{row}.pk`): SQLite sees
        # that the index already yields that order, and sorts nothing
        seeks.append((len(order), f"{ref}.pk"))
        if level > 0:
            ties[len(order)] = f"{ref}.rowid"
        order.append((f"{ref}.pk", False))
    return Walk(
        walk.source,
        all_of(where),
        order,
        used=cond,
        seeks=tuple(seeks),
        ties=ties,
        chain=tuple(levels),
    )


def _far_end(conn: sqlite3.Connection, cond: Condition, rtype: str, alias: str) -> Walk:
    """The resources the chain ends at, each once: by the condition's own index where it
    has a walk, otherwise resolved as a set and read in pk order."""
    walk = equality_walk(cond, rtype, alias) or range_walk(conn, cond, rtype, alias)
    if walk is None:
        members = Fragment(f"{alias}.pk IN (") + matching_pks(rtype, cond) + Fragment(")")
        walk = Walk(f"resources {alias}", members, [(f"{alias}.pk", False)])
    # an `_id` walk reads resources rows, deleted ones and other types included
    walk.where = all_of(
        [walk.where, Fragment(f"{alias}.type = ? AND {alias}.deleted = 0", [rtype])]
    )
    return walk


def _first_row(ref: str) -> Fragment:
    """A reference met twice (to one target at two versions) counts at its first row."""
    return Fragment(
        f"NOT EXISTS (SELECT 1 FROM idx_reference {ref}x INDEXED BY idx_reference_pk "
        f"WHERE {ref}x.pk = {ref}.pk AND {ref}x.type = {ref}.type "
        f"AND {ref}x.param = {ref}.param AND {ref}x.target_id = {ref}.target_id "
        f"AND {ref}x.target_type = {ref}.target_type AND {ref}x.rowid < {ref}.rowid)"
    )
