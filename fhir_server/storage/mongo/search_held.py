"""Paging that holds still while resources change, for `_sort` (an unsorted search walks
`pos`, which a resource keeps): the MongoDB side of docs/search.md, "Paging that holds
still".

- The first page notes the tenant's position counter (the watermark) in its cursors,
  read before and after its sort (search_page reads it again if the two differ).
- A later page sorts only the resources neither created nor changed since then: they
  stand where they stood.
- Each resource updated, deleted or changed in place ($meta-add..., noted in
  `in_place_writes` with the body before) since then is placed where its version of that
  moment stood: the sort keys are computed in Python from that version's index entries
  (`search_sort.sort_values_of`, the same values the aggregation computes). Those placed
  beyond the cursor that match the search now join the page, merged in order.

A position is taken from the counter just before its write commits, so a write in flight
as the first page begins (its position taken, its commit not yet seen by the sort) may be
placed by its new values instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from fhir_server.search.plan import Cursor, SearchPlan
from fhir_server.storage import contracts
from fhir_server.storage.contracts import InvalidCursor, PagingExpired, PastIndex, StoredVersion
from fhir_server.storage.held_order import PageMerger
from fhir_server.storage.mongo.documents import (
    NO_INDEX,
    Document,
    index_document,
    stored_version,
)
from fhir_server.storage.mongo.search_query import clamp_int64
from fhir_server.storage.mongo.search_sort import OrderField, sort_values_of
from fhir_server.storage.mongo.writes import Collections

__all__ = ["HeldSort", "changes_since", "held_sort", "watermark"]


@dataclass(slots=True)
class HeldSort:
    """How one sorted page holds still: the watermark its cursors carry (None: it does
    not), the filter that keeps changed resources out of the sort, and the changed ones
    placed where they stood (matching now, with their sort values of then)."""

    order: list[OrderField]
    mark: int | None = None
    changes: set[tuple[str, str]] = field(default_factory=set)  # (type, id) since the mark
    unchanged: Document = field(default_factory=dict)
    placed: list[Document] = field(default_factory=list)

    def merge(self, walked: list[Document], cursor: Cursor | None, limit: int) -> list[Document]:
        """The `limit` documents nearest the cursor, walked and placed, in walk order
        (forward, or going back nearest first, as the walk returned them)."""
        if not self.placed or cursor is None:
            return walked
        merger = PageMerger(self._key, [[d for _, d in self.order]])
        back = cursor.direction == "before"
        start = (0, *cursor.sort_values, cursor.position)
        placed = [d for d in self.placed if merger.beyond(self._key(d), start, back)]
        forward = list(reversed(walked)) if back else walked
        merged = merger.merge(forward, placed, limit, back)
        return list(reversed(merged)) if back else merged

    def _key(self, doc: Document) -> tuple[object, ...]:
        return (0, *(doc.get(name) for name, _ in self.order[:-1]), doc["pos"])


async def watermark(cols: Collections, tenant: str) -> int:
    """The tenant's position counter: the last position a write has taken."""
    counter = await cols.counters.find_one({"_id": tenant})
    return int(counter["next"]) if counter else 0


Key = tuple[str, str]  # (type, id)


def _typed(tenant: str, plan: SearchPlan) -> Document:
    if plan.resource_type is not None:
        return {"tenant": tenant, "type": plan.resource_type}
    if plan.types:
        return {"tenant": tenant, "type": {"$in": list(plan.types)}}
    return {"tenant": tenant}


def _any_of(keys: Iterable[Key]) -> list[Document]:
    """One clause per type, naming its ids: the documents of `keys`."""
    by_type: dict[str, list[str]] = {}
    for rtype, rid in sorted(keys):
        by_type.setdefault(rtype, []).append(rid)
    return [{"type": rtype, "id": {"$in": ids}} for rtype, ids in by_type.items()]


async def changes_since(cols: Collections, tenant: str, plan: SearchPlan, mark: int) -> set[Key]:
    """The resources of the plan's types updated, deleted or changed in place since `mark`
    (versions past the first, read from the `tenant_type_changes` index: creations since
    are left out of a held sort by `pos`); PagingExpired past PAST_SCAN_LIMIT changes."""
    later = {**_typed(tenant, plan), "seq": {"$gt": clamp_int64(mark)}}
    limit = contracts.PAST_SCAN_LIMIT
    projection = {"type": 1, "id": 1, "_id": 0}
    versions = cols.history.find({**later, "version": {"$gt": 1}}, projection, limit=limit + 1)
    found = await versions.to_list(None)
    if len(found) <= limit:  # (a limit of 0 would read them all)
        in_place = cols.in_place.find(later, projection, limit=limit + 1 - len(found))
        found += await in_place.to_list(None)
    if len(found) > limit:
        raise PagingExpired
    return {(str(d["type"]), str(d["id"])) for d in found}


async def held_sort(
    tenant: str,
    cols: Collections,
    plan: SearchPlan,
    found: Document,
    order: list[OrderField],
    past_index: PastIndex | None,
) -> HeldSort:
    """How a later page of a sorted search holds still (a first page only notes the
    watermark, after its sort: `watermark`). The caller checks, after its sort, that the
    changes are still those read here (`changes_since`): the two reads are no snapshot."""
    held = HeldSort(order)
    cursor = plan.cursor
    if past_index is None or cursor is None or cursor.snapshot is None:
        return held  # no way to index the past, a first page, or a cursor from before
    if len(cursor.sort_values) + 1 != len(order):
        raise InvalidCursor("the cursor does not fit this search's order")
    mark = held.mark = cursor.snapshot
    held.unchanged = {"pos": {"$lte": clamp_int64(mark)}}  # created since: not there then
    held.changes = await changes_since(cols, tenant, plan, mark)
    if not held.changes:
        return held
    held.unchanged = {"$and": [held.unchanged, {"$nor": _any_of(held.changes)}]}
    typed = _typed(tenant, plan)
    at_mark = await _seqs_at(cols, typed, held.changes, mark)
    if not at_mark:
        return held
    now = await cols.resources.find({"$and": [found, {"$or": _any_of(at_mark)}]}, NO_INDEX).to_list(
        None
    )
    if len(now) > contracts.PAST_PLACES_LIMIT:
        raise PagingExpired
    keys = {(str(d["type"]), str(d["id"])) for d in now}
    then = await _versions(cols, typed, {k: at_mark[k] for k in keys}, mark)
    for doc in now:
        version = then.get((str(doc["type"]), str(doc["id"])))
        if version is None:
            continue  # deleted at the mark: it stood nowhere
        entries = index_document(past_index(version))
        fields = {"id": version.id, "updated": version.last_updated_us, "idx": entries}
        held.placed.append({**doc, **sort_values_of(fields, plan.sort)})
    return held


async def _seqs_at(cols: Collections, typed: Document, keys: set[Key], mark: int) -> dict[Key, int]:
    """{key: seq of its version current at `mark`} for those of `keys` that existed then."""
    found = {**typed, "$or": _any_of(keys), "seq": {"$lte": clamp_int64(mark)}}
    latest: dict[Key, int] = {}
    async for doc in cols.history.find(found, {"type": 1, "id": 1, "seq": 1, "_id": 0}):
        key, seq = (str(doc["type"]), str(doc["id"])), int(doc["seq"])
        latest[key] = max(seq, latest.get(key, seq))
    return latest


async def _versions(
    cols: Collections, typed: Document, seqs: dict[Key, int], mark: int
) -> dict[Key, StoredVersion]:
    """The versions `seqs` name, by key, as they were at `mark` (a body changed in place
    since is the one noted before the change); deletions left out."""
    if not seqs:
        return {}
    found = {**typed, "seq": {"$in": sorted(seqs.values())}}
    versions = {}
    async for doc in cols.history.find(found):
        version = stored_version(doc, "seq")
        key = (version.resource_type, version.id)
        if not version.deleted and seqs.get(key) == version.position:
            versions[key] = version
    if not versions:
        return versions
    notes = {**typed, "$or": _any_of(versions), "seq": {"$gt": clamp_int64(mark)}}
    async for note in cols.in_place.find(notes, sort=[("seq", -1)]):
        key = (str(note["type"]), str(note["id"]))
        noted = versions.get(key)
        if noted is not None and noted.version == int(note["version"]):
            # notes come latest first: the earliest since the mark is the one kept
            versions[key] = replace(noted, body=bytes(note["body_before"]))
    return versions
