"""Paging that holds still while resources change, for `_sort` (an unsorted search walks
`pos`, which a resource keeps): the MongoDB side of docs/search.md, "Paging that holds
still".

- The first page notes the tenant's position counter (the watermark) in its cursors.
- A later page sorts only the resources neither created nor changed since then: they
  stand where they stood.
- Each resource updated or deleted since then is placed where its version of that
  moment stood: the sort keys are computed in Python from that version's index entries
  (`search_sort.sort_values_of`, the same values the aggregation computes). Those placed
  beyond the cursor that match the search now join the page, merged in order.

A position is taken from the counter just before its write commits, so a write in flight
as the first page is read may be placed by its new values instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fhir_server.search.plan import Cursor, SearchPlan
from fhir_server.storage.contracts import (
    PAST_PLACES_LIMIT,
    PagingExpired,
    PastIndex,
    StoredVersion,
)
from fhir_server.storage.held_order import PageMerger
from fhir_server.storage.mongo.documents import Document, index_document, stored_version
from fhir_server.storage.mongo.search_query import clamp_int64
from fhir_server.storage.mongo.search_sort import OrderField, sort_values_of
from fhir_server.storage.mongo.writes import Collections

__all__ = ["HeldSort", "hold_sort"]

_NO_INDEX = {"idx": 0}


@dataclass(slots=True)
class HeldSort:
    """How one sorted page holds still: the watermark its cursors carry (None: it does
    not), the filter that keeps changed resources out of the sort, and the changed ones
    placed where they stood (matching now, with their sort values of then)."""

    order: list[OrderField]
    mark: int | None = None
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


async def hold_sort(
    tenant: str,
    cols: Collections,
    plan: SearchPlan,
    found: Document,
    order: list[OrderField],
    past_index: PastIndex | None,
) -> HeldSort:
    held = HeldSort(order)
    if past_index is None or plan.resource_type is None:
        return held  # (a sort over several types is refused before it gets here)
    if plan.cursor is None:
        counter = await cols.counters.find_one({"_id": tenant})
        held.mark = int(counter["next"]) if counter else 0
        return held
    mark = plan.cursor.snapshot
    if mark is None:
        return held  # a cursor from before walks held still: the sort as it is now
    held.mark = mark
    typed = {"tenant": tenant, "type": plan.resource_type}
    # an update or deletion has a version past 1; creations since did not exist then
    since = {**typed, "seq": {"$gt": clamp_int64(mark)}, "version": {"$gt": 1}}
    changed = {str(d["id"]) async for d in cols.history.find(since, {"id": 1, "_id": 0})}
    held.unchanged = {"pos": {"$lte": clamp_int64(mark)}, "id": {"$nin": sorted(changed)}}
    versions = await _versions_at(cols, typed, sorted(changed), mark)
    if not versions:
        return held
    now = cols.resources.find({**found, "id": {"$in": sorted(versions)}}, _NO_INDEX)
    async for doc in now:
        then = versions[str(doc["id"])]
        entries = index_document(past_index(then))
        fields = {"id": then.id, "updated": then.last_updated_us, "idx": entries}
        held.placed.append({**doc, **sort_values_of(fields, plan.sort)})
    return held


async def _versions_at(
    cols: Collections, typed: Document, ids: list[str], mark: int
) -> dict[str, StoredVersion]:
    """The version current at `mark` of each of `ids` that existed then (not deleted)."""
    if len(ids) > PAST_PLACES_LIMIT:
        raise PagingExpired
    if not ids:
        return {}
    docs = cols.history.find(
        {**typed, "id": {"$in": ids}, "seq": {"$lte": clamp_int64(mark)}}, sort=[("seq", 1)]
    )
    latest: dict[str, StoredVersion] = {}
    async for doc in docs:
        latest[str(doc["id"])] = stored_version(doc, "seq")  # later versions replace earlier
    return {rid: v for rid, v in latest.items() if not v.deleted}
