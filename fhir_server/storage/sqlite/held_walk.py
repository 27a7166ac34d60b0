"""Paging that holds still while resources change (search.html#paging): walking `next`
never repeats or skips a resource that existed when the walk began.

A walk in `pk` order needs nothing: a resource keeps its pk. A walk in value order (a
range or prefix walk, `_sort`, a chain walked from its far end) places a resource by
values an update can change, its own or, for a chain, those of the resources its path
passes through. So:
- its first page notes the watermark in its cursors: the last number of the history's
  sequence, which in-place writes ($meta-add...) draw their notes' numbers from too;
- a later page walks only rows whose resources (the whole path, for a chain) are
  unchanged since then: those stand where they stood;
- the others, resources updated, deleted or changed in place since then and those whose
  path passes through one, are placed where they stood then: the walk's own SQL runs over
  a scratch database holding each of them, and the resources along its path, as they
  were at the mark; those placed beyond the cursor that match the search now join the
  page, in order.
So a resource that matches throughout the walk is served once, at its place when the walk
began, with its content of now. One created since the mark did not exist when the walk
began; it is served only where the walk meets it unchanged (a pk walk meets it).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import orjson

from fhir_server.search.plan import ChainCondition, Condition, Cursor, SearchPlan
from fhir_server.storage import contracts
from fhir_server.storage.contracts import InvalidCursor, PagingExpired, PastIndex
from fhir_server.storage.held_order import PageMerger
from fhir_server.storage.sqlite.entry_walks import Walk
from fhir_server.storage.sqlite.index_rows import insert_index_rows, prepare_index
from fhir_server.storage.sqlite.rows import (
    PK_COLUMN,
    VERSION_COLUMNS,
    VERSION_WIDTH,
    pk_list,
    version_of,
)
from fhir_server.storage.sqlite.schema import INDEX_TABLES, TENANT_SCHEMA
from fhir_server.storage.sqlite.search_sql import predicate
from fhir_server.storage.sqlite.search_walks import type_filter
from fhir_server.storage.sqlite.sql import Fragment, all_of

__all__ = ["HeldWalk", "held_walk"]

Row = tuple[object, ...]
Phased = tuple[int, Row]  # (phase of the walk, row: version columns, then order values)


@dataclass(slots=True)
class HeldWalk:
    """How one page of a walk holds still: the watermark its cursors carry (None: the walk
    needs none), the filters that keep changed rows out of the walk, and the rows placed
    where they stood at the mark (matching now)."""

    walks: Sequence[Walk]  # one per phase
    mark: int | None = None
    unchanged: dict[int, list[Fragment]] = field(default_factory=dict)  # per phase
    placed: list[Phased] = field(default_factory=list)

    def walk(self, phase: int) -> Walk:
        """The walk of `phase`, changed rows left out."""
        walk = self.walks[phase]
        extra = self.unchanged.get(phase)
        return replace(walk, extra=[*walk.extra, *extra]) if extra else walk

    def merge(self, walked: list[Phased], cursor: Cursor | None, limit: int) -> list[Phased]:
        """The page's `limit` rows nearest the cursor: walked and placed, in order."""
        if not self.placed or cursor is None:
            return walked
        merger = PageMerger(self._key, [[d for _, d in w.order] for w in self.walks])
        back = cursor.direction == "before"
        start = (int(cursor.second_phase), *cursor.sort_values, cursor.position)
        placed = [p for p in self.placed if merger.beyond(self._key(p), start, back)]
        return merger.merge(walked, placed, limit, back)

    def _key(self, phased: Phased) -> tuple[object, ...]:
        phase, row = phased
        width = len(self.walks[phase].order) - 1
        return (phase, *row[VERSION_WIDTH : VERSION_WIDTH + width], row[PK_COLUMN])


def held_walk(
    conn: sqlite3.Connection,
    plan: SearchPlan,
    walks: Sequence[Walk],
    past_index: PastIndex | None,
) -> HeldWalk:
    """How this page of `plan` over `walks` (one per phase) holds still."""
    held = HeldWalk(walks)
    if past_index is None or all(len(w.order) == 1 for w in walks):
        return held  # no way to index the past, or a walk in pk order
    cursor = plan.cursor
    if cursor is None:
        held.mark = _watermark(conn)
        return held
    if cursor.snapshot is None:
        return held  # a cursor from before walks held still: the walk as it is now
    at = int(cursor.second_phase)  # the phase the cursor stands in
    if at >= len(walks) or len(cursor.sort_values) + 1 != len(walks[at].order):
        raise InvalidCursor("the cursor does not fit this search's order")
    mark = held.mark = cursor.snapshot
    if _watermark(conn) <= mark:
        return held  # nothing written since the first page: the walk stands as it stood
    held.unchanged = {
        phase: [_unchanged(alias, mark) for alias in walk.path] for phase, walk in enumerate(walks)
    }
    chain = walks[0].chain
    rtype = plan.resource_type
    types = {rtype, *(target for _, _, target in chain)} if rtype else set(plan.types)
    changed = _changed_since(conn, types, mark)
    if not changed:
        return held
    now = _matching_now(conn, plan, _affected(conn, plan, walks[0], changed))
    if len(now) > contracts.PAST_PLACES_LIMIT:
        raise PagingExpired
    places = _PastWorld(conn, mark, changed, past_index).places(plan, walks, set(now))
    held.placed = [
        (phase, (*now[pk], *values)) for pk, (phase, values) in places.items() if pk in now
    ]
    return held


def _watermark(conn: sqlite3.Connection) -> int:
    """The last number of the history's sequence, which in-place writes draw from too."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'history'").fetchone()
    return int(row[0]) if row else 0


def _unchanged(alias: str, mark: int) -> Fragment:
    """The row `alias` names stands where it stood at `mark`: no version, no in-place
    write since."""
    return Fragment(
        f"NOT EXISTS (SELECT 1 FROM history h WHERE h.pk = {alias}.pk AND h.seq > ?) "
        f"AND NOT EXISTS (SELECT 1 FROM in_place_writes w WHERE w.pk = {alias}.pk "
        "AND w.seq > ?)",
        [mark, mark],
    )


def _changed_since(conn: sqlite3.Connection, types: Iterable[str], mark: int) -> dict[int, str]:
    """{pk: type} of the resources of `types` (none: of every type) that existed at `mark`
    and were updated, deleted or changed in place since: read from the index of versions
    past the first (`history_changes`), so creations cost nothing, and from the in-place
    writes; PagingExpired past PAST_SCAN_LIMIT such changes."""
    listed = sorted(types)
    limit = contracts.PAST_SCAN_LIMIT
    typed = f"type IN ({', '.join('?' for _ in listed)}) AND " if listed else ""
    sql = (
        f"SELECT pk, type FROM history WHERE {typed}version > 1 AND seq > ? "
        f"UNION ALL SELECT pk, type FROM in_place_writes WHERE {typed}seq > ? LIMIT ?"
    )
    rows = conn.execute(sql, [*listed, mark, *listed, mark, limit + 1]).fetchall()
    if len(rows) > limit:
        raise PagingExpired
    found = {int(pk): str(rtype) for pk, rtype in rows}
    existed = conn.execute(
        "SELECT value FROM json_each(?) "
        "WHERE EXISTS (SELECT 1 FROM history o WHERE o.pk = value AND o.seq <= ?)",
        [pk_list(found), mark],
    ).fetchall()
    return {int(row[0]): found[int(row[0])] for row in existed}


def _affected(
    conn: sqlite3.Connection,
    plan: SearchPlan,
    walk: Walk,
    changed: dict[int, str],
) -> set[int]:
    """The resources searched (of the plan's type, or of every type `changed` holds) whose
    place may have moved: those changed, and for a chain those whose path (through the
    references of now) passes a changed resource that matches the rest of the chain now.
    (One that does not leads to nothing the page may serve: every level refers once.)"""
    rtype = plan.resource_type
    affected = {pk for pk, t in changed.items() if rtype is None or t == rtype}
    rests = _chain_rests(walk) if walk.chain else []
    for level in range(len(walk.chain), 0, -1):
        target = walk.chain[level - 1][2]
        found = {pk for pk, t in changed.items() if t == target}
        found = _matching(conn, target, rests[level], found)
        for referring, param, referred in reversed(walk.chain[:level]):
            found = _referrers(conn, referring, param, referred, found)
        affected |= found
    return affected


def _chain_rests(walk: Walk) -> list[Condition]:
    """The chain walk's condition at each level: [the whole chain, ..., the far end's]."""
    rests: list[Condition] = []
    current = walk.used
    while current is not None:
        rests.append(current)
        current = current.condition if isinstance(current, ChainCondition) else None
    return rests


def _matching(
    conn: sqlite3.Connection, rtype: str, condition: Condition, pks: set[int]
) -> set[int]:
    """Those of `pks` (resources of `rtype`) that satisfy `condition` now."""
    if not pks:
        return pks
    where = all_of([_among("t", pks), predicate(condition, "t", rtype)])
    rows = conn.execute(f"SELECT t.pk FROM resources t WHERE {where.text}", where.args)
    return {int(row[0]) for row in rows}


def _referrers(
    conn: sqlite3.Connection, referring: str, param: str, target: str, pks: set[int]
) -> set[int]:
    """The `referring` resources that refer to `pks` through `param` now, read from the
    changed pks outwards."""
    if not pks:
        return set()
    limit = contracts.PAST_SCAN_LIMIT
    sql = (
        "SELECT DISTINCT k.pk FROM json_each(?) changed "
        "CROSS JOIN resources t ON t.pk = changed.value "
        "CROSS JOIN idx_reference k ON k.type = ? AND k.param = ? "
        "AND k.target_id = t.id AND k.target_type = t.type "
        "WHERE t.type = ? LIMIT ?"
    )
    rows = conn.execute(sql, [pk_list(pks), referring, param, target, limit + 1]).fetchall()
    if len(rows) > limit:
        raise PagingExpired
    return {int(row[0]) for row in rows}


def _among(alias: str, pks: Iterable[int]) -> Fragment:
    return Fragment(f"{alias}.pk IN (SELECT value FROM json_each(?))", [pk_list(pks)])


# An empty database of the tenant schema, copied for each scratch database: a copy costs
# ~0.03 ms where building the schema costs ~1 ms, on every later page that places anything.
_TEMPLATE: sqlite3.Connection | None = None
_TEMPLATE_LOCK = threading.Lock()


def _scratch_database() -> sqlite3.Connection:
    global _TEMPLATE
    scratch = sqlite3.connect(":memory:")
    with _TEMPLATE_LOCK:
        if _TEMPLATE is None:
            _TEMPLATE = sqlite3.connect(":memory:", check_same_thread=False)
            _TEMPLATE.executescript(TENANT_SCHEMA)
        _TEMPLATE.backup(scratch)
    return scratch


class _PastWorld:
    """A scratch database of the same schema, holding resources as they were at `mark`:
    their version of then (indexed anew) if changed since, else their rows of now."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        mark: int,
        changed: dict[int, str],
        past_index: PastIndex,
    ) -> None:
        self._conn = conn
        self._mark = mark
        self._changed = changed
        self._past_index = past_index
        self._held: set[int] = set()

    def places(
        self, plan: SearchPlan, walks: Sequence[Walk], affected: set[int]
    ) -> dict[int, tuple[int, Row]]:
        """Where each of `affected` stood in the walk: {pk: (phase, order values but the
        pk)}, for those the walk's own condition matched at the mark. A condition decided
        by resources off the walk's paths (a large `_list`) is not run: such a resource is
        placed by its order values alone, and served if it matches now."""
        scratch = _scratch_database()
        try:
            self._hold(scratch, affected)
            frontier = affected
            for referring, param, target in walks[0].chain:
                frontier = self._targets(scratch, referring, param, target, frontier)
                self._hold(scratch, frontier)
            places: dict[int, tuple[int, Row]] = {}
            only = _among("r", affected)
            for phase, walk in enumerate(walks):
                values = ", ".join(e for e, _ in walk.order[:-1])
                columns = f"r.pk, {values}" if values else "r.pk"
                own = walk.where if walk.own_where else Fragment("1 = 1")
                tests = [own, type_filter(plan), Fragment("r.deleted = 0"), *walk.extra]
                where = all_of([*tests, only])
                sql = f"SELECT {columns} FROM {walk.source} WHERE {where.text}"
                for row in scratch.execute(sql, where.args):
                    places.setdefault(int(row[0]), (phase, tuple(row[1:])))
            return places
        finally:
            scratch.close()

    def _hold(self, scratch: sqlite3.Connection, pks: set[int]) -> None:
        """Put `pks` into the scratch database as they were at the mark."""
        fresh = pks - self._held
        self._held |= fresh
        now = [pk for pk in fresh if pk not in self._changed]
        for pk in fresh - set(now):
            self._hold_past(scratch, pk)
        if now:
            self._copy_now(scratch, now)

    def _hold_past(self, scratch: sqlite3.Connection, pk: int) -> None:
        row = self._conn.execute(
            "SELECT type, id, version, last_updated_us, method, body, pk FROM history "
            "WHERE pk = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
            (pk, self._mark),
        ).fetchone()
        if row is None:
            return
        version = version_of(row)
        if version.deleted:
            return  # deleted at the mark: it stood nowhere
        before = self._conn.execute(
            "SELECT body_before FROM in_place_writes WHERE pk = ? AND version = ? AND seq > ? "
            "ORDER BY seq LIMIT 1",
            (pk, version.version, self._mark),
        ).fetchone()
        if before is not None:  # changed in place since: its body of then
            version = replace(version, body=bytes(before[0]))
        scratch.execute(
            "INSERT INTO resources (pk, type, id, version, last_updated_us, method, deleted, "
            "body) VALUES (?, ?, ?, ?, ?, ?, 0, NULL)",
            (
                pk,
                version.resource_type,
                version.id,
                version.version,
                version.last_updated_us,
                version.method,
            ),
        )
        prepared = prepare_index(version.resource_type, self._past_index(version))
        insert_index_rows(scratch, version.resource_type, pk, prepared)

    def _copy_now(self, scratch: sqlite3.Connection, pks: list[int]) -> None:
        """Copy the rows of those of `pks` unchanged since the mark (one created since
        did not exist then)."""
        unchanged = _unchanged("r", self._mark)
        kept = self._conn.execute(
            "SELECT r.pk FROM resources r WHERE r.pk IN (SELECT value FROM json_each(?)) AND "
            + unchanged.text,
            [pk_list(pks), *unchanged.args],
        ).fetchall()
        listed = pk_list(int(row[0]) for row in kept)
        for table in ("resources", *INDEX_TABLES):
            columns = [str(c[1]) for c in scratch.execute(f"PRAGMA table_info({table})")]
            if table == "resources":
                columns.remove("body")  # never read by a walk's order or condition
            names = ", ".join(columns)
            rows = self._conn.execute(
                f"SELECT {names} FROM {table} WHERE pk IN (SELECT value FROM json_each(?))",
                [listed],
            ).fetchall()
            marks = ", ".join("?" for _ in columns)
            scratch.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)

    def _targets(
        self,
        scratch: sqlite3.Connection,
        referring: str,
        param: str,
        target: str,
        pks: set[int],
    ) -> set[int]:
        """The resources `pks` referred to at the mark through `param` (their pks now)."""
        refs = scratch.execute(
            "SELECT DISTINCT target_id FROM idx_reference WHERE type = ? AND param = ? "
            "AND target_type = ? AND pk IN (SELECT value FROM json_each(?))",
            [referring, param, target, pk_list(pks)],
        ).fetchall()
        ids = [str(row[0]) for row in refs]
        found = self._conn.execute(
            "SELECT pk FROM resources WHERE type = ? AND id IN (SELECT value FROM json_each(?))",
            [target, orjson.dumps(ids).decode()],
        ).fetchall()
        return {int(row[0]) for row in found}


def _matching_now(conn: sqlite3.Connection, plan: SearchPlan, pks: set[int]) -> dict[int, Row]:
    """The current rows of those of `pks` that match every condition of `plan` now: the
    only ones a page may serve."""
    if not pks:
        return {}
    listed = _among("r", pks)
    rtype = plan.resource_type
    tests = [predicate(c, "r", rtype) for c in plan.conditions]
    where = all_of([listed, type_filter(plan), Fragment("r.deleted = 0"), *tests])
    rows = conn.execute(f"SELECT {VERSION_COLUMNS} FROM resources r WHERE {where.text}", where.args)
    return {int(str(row[PK_COLUMN])): tuple(row) for row in rows}
