"""Walks that read one index in its own order: the Walk shape every page query uses, and
the walks of one equality (`pk` order) or one range or prefix (value order).

`alias` names the resource row a walk produces: `r` for a page's own resources, another
name where the walk is the far end of a chain (chain_walk).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from fhir_server.search.entries import DATE_MAX, DATE_MIN
from fhir_server.search.plan import (
    Condition,
    DateCondition,
    IdCondition,
    NumberCondition,
    RangeMatch,
    ReferenceCondition,
    StringCondition,
    TokenCondition,
    UriCondition,
)
from fhir_server.storage.sqlite.entry_match import (
    bounds_on,
    prefix_range,
    reference_match,
    token_match,
)
from fhir_server.storage.sqlite.sql import Fragment, all_of

__all__ = ["Walk", "equality_walk", "range_walk"]


@dataclass(slots=True)
class Walk:
    """How rows are produced: FROM, driver-specific WHERE, and the order (expr, desc)."""

    source: str
    where: Fragment
    order: list[tuple[str, bool]]
    used: Condition | None = None
    extra: list[Fragment] = field(default_factory=list)
    entry_table: str | None = None  # an entry walk's index table (alias d)
    # Order the page's pks before reading any body: a set walk sorts every member.
    pks_first: bool = False
    # (position in `order`, an indexed integer column equal to that term): the page query
    # bounds each by the cursor, so that a walk of nested loops seeks to where the page
    # starts instead of filtering its way there (chain_walk).
    seeks: tuple[tuple[int, str], ...] = ()
    # {position in `order`: a term ORDER BY places after that one}: rowids of rows the walk
    # shows once each, so they never separate two rows of a page and stay out of cursors
    # (an update gives a row a new rowid). They tell SQLite that each outer loop's terms
    # single out its row, without which it sorts the inner loops' rows (chain_walk).
    ties: dict[int, str] = field(default_factory=dict)
    # Whether `where` reads only the rows' own index entries (for a chain, those of the
    # resources along each path), so that a database of those alone can run it (held_walk).
    own_where: bool = True
    # a chain walked from its far end: its levels (referring type, parameter, target type),
    # nearest first; the resources along a path are aliased r, t1, ..., t{len(chain)}
    chain: tuple[tuple[str, str, str], ...] = ()

    @property
    def from_far_end(self) -> bool:
        """A chain walked from its far end: a count reads the chain's set instead."""
        return bool(self.chain)

    @property
    def path(self) -> tuple[str, ...]:
        """The row aliases of the resources each row's place depends on."""
        return ("r", *(f"t{level}" for level in range(1, len(self.chain) + 1)))


def _entry_walk(
    table: str, param: str, rtype: str, test: Fragment, order: list[str], alias: str
) -> Walk:
    where = Fragment("d.type = ? AND d.param = ? AND ", [rtype, param]) + test
    walk = Walk(
        f"{table} d JOIN resources {alias} ON {alias}.pk = d.pk",
        where,
        [(c, False) for c in order],
        entry_table=table,
    )
    # Token rows are unique per resource and code (index_rows) and uri rows per value, so
    # those equalities match one entry per resource; other walks can meet a resource at
    # several entries (a reference to one target at two versions, a range) and show it
    # at its first.
    if order != ["d.pk"] or table not in ("idx_token", "idx_uri"):
        keys = ", ".join([*order[:-1], "d.rowid"])
        # In value order, `d2.value <= d.value` (redundant beside the row values) bounds
        # the pk index's range, so the look for an earlier entry starts at the resource's
        # least matching value, not at every entry it has (schema.PK_INDEXES).
        first = order[0]
        bound = "" if first == "d.pk" else f" AND {first.replace('d.', 'd2.')} <= {first}"
        walk.extra.append(
            Fragment(
                f"NOT EXISTS (SELECT 1 FROM {table} d2 INDEXED BY {table}_pk "
                f"WHERE d2.pk = d.pk AND d2.param = d.param "
                f"AND d2.type = d.type AND ",
            )
            + Fragment(test.text.replace("d.", "d2."), list(test.args))
            + Fragment(f"{bound} AND ({keys.replace('d.', 'd2.')}) < ({keys}))")
        )
    return walk


def equality_walk(cond: Condition, rtype: str, alias: str = "r") -> Walk | None:
    """The walk of an equality on a token with system, a typed reference, an exact uri or
    `_id`, in `pk` order; None for any other condition."""
    match cond:
        case IdCondition():
            marks = ", ".join("?" for _ in cond.ids)
            ids = Fragment(f"{alias}.id IN ({marks})", list(cond.ids))
            return Walk(f"resources {alias}", ids, [(f"{alias}.pk", False)])
        case TokenCondition(param, (value,), False) if value.code and value.system_given:
            test = token_match("d", value)
            return _entry_walk("idx_token", param, rtype, test, ["d.pk"], alias)
        case ReferenceCondition(param, (value,)) if value.target_id and value.target_type:
            test = reference_match("d", value)
            return _entry_walk("idx_reference", param, rtype, test, ["d.pk"], alias)
        case UriCondition(param, (value,), "exact"):
            test = Fragment("d.value = ?", [value])
            return _entry_walk("idx_uri", param, rtype, test, ["d.pk"], alias)
    return None


def range_walk(
    conn: sqlite3.Connection, cond: Condition, rtype: str, alias: str = "r"
) -> Walk | None:
    """The walk of one date or number range, or one string prefix, in value order; None
    for any other condition."""
    match cond:
        case DateCondition(param, (m,)) if not m.negated:
            test = all_of([bounds_on("d", m), _low_floor(conn, rtype, param, m)])
            order = ["d.low", "d.high", "d.pk"]
            return _entry_walk("idx_date", param, rtype, test, order, alias)
        case NumberCondition(param, (m,)) if not m.negated:
            order = ["d.low", "d.high", "d.pk"]
            return _entry_walk("idx_number", param, rtype, bounds_on("d", m), order, alias)
        case StringCondition(param, (value,), "starts"):
            test = prefix_range("d.value", value)
            return _entry_walk("idx_string", param, rtype, test, ["d.value", "d.pk"], alias)
    return None


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
    if width >= DATE_MAX:
        # a range open at its start (low = DATE_MIN) was indexed: its width, capped at
        # DATE_MAX, is no bound, and any floor would leave such ranges out
        return Fragment("1 = 1")
    return Fragment("d.low >= ?", [max(int(max(floors)) - width, DATE_MIN)])
