"""One page of search results: filter, order, cursors, totals and includes.

Without `_sort` a page is a `find` in `pos` order (the `(tenant, type, pos)` index, or an
entry index and a sort of its matches, as the planner finds cheaper); with `_sort` it is
an aggregation that computes each key (`search_sort`) and orders the match set. Either
way the order ends with `pos`, and a cursor holds the last row's order values.
"""

from __future__ import annotations

from fhir_server.errors import BadRequest
from fhir_server.search.plan import Cursor, SearchPlan
from fhir_server.storage.contracts import PagingExpired, PastIndex, SearchPage
from fhir_server.storage.mongo.documents import NO_INDEX, Document, stored_version
from fhir_server.storage.mongo.search_filter import plan_filter
from fhir_server.storage.mongo.search_held import (
    HeldSort,
    changes_since,
    held_sort,
    watermark,
)
from fhir_server.storage.mongo.search_query import operand
from fhir_server.storage.mongo.search_sort import (
    OrderField,
    cursor_filter,
    order_fields,
    sort_stages,
)
from fhir_server.storage.mongo.writes import Collection, Collections

__all__ = ["CollectionFinder", "search_page"]


class CollectionFinder:
    """Implements `search_filter.Finder` on the `resources` collection."""

    def __init__(self, resources: Collection) -> None:
        self._resources = resources

    async def ids(self, query: Document) -> list[str]:
        docs = await self._resources.find(query, {"id": 1, "_id": 0}).to_list(None)
        return sorted({str(d["id"]) for d in docs})

    async def references(self, query: Document, param: str) -> list[tuple[str, str]]:
        pipeline: list[Document] = [
            {"$match": query},
            {"$project": {"r": "$idx.r", "_id": 0}},
            {"$unwind": "$r"},
            # a query stage: the operand is a plain value here, never an expression
            {"$match": {"r.p": operand(param), "r.rt": {"$ne": None}, "r.ri": {"$ne": None}}},
            {"$group": {"_id": {"t": "$r.rt", "i": "$r.ri"}}},
        ]
        cursor = await self._resources.aggregate(pipeline)
        groups = await cursor.to_list(None)
        return sorted((str(g["_id"]["t"]), str(g["_id"]["i"])) for g in groups)


async def _total(resources: Collection, plan: SearchPlan, found: Document) -> int | None:
    if plan.total == "none":
        return None
    if plan.total == "accurate":
        return await resources.count_documents(found)
    counted = await resources.count_documents(found, limit=plan.estimate_limit + 1)
    return counted if counted <= plan.estimate_limit else None


def _bad_cursor() -> BadRequest:
    return BadRequest("The paging cursor is not one this server issued", ("_cursor",))


async def _unsorted(
    resources: Collection, plan: SearchPlan, found: Document, back: bool
) -> tuple[list[Document], list[OrderField]]:
    if plan.cursor is not None:
        if plan.cursor.sort_values:
            raise _bad_cursor()
        found = {**found, "pos": {"$lt" if back else "$gt": operand(plan.cursor.position)}}
    docs = await resources.find(
        found, NO_INDEX, sort=[("pos", -1 if back else 1)], limit=plan.count + 1
    ).to_list(None)
    return docs, [("pos", False)]


async def _sorted(
    resources: Collection, plan: SearchPlan, found: Document, back: bool, held: HeldSort
) -> list[Document]:
    order = held.order
    matched = {"$and": [found, held.unchanged]} if held.unchanged else found
    stages: list[Document] = [{"$match": matched}, *sort_stages(plan.sort)]
    if plan.cursor is not None:
        after = cursor_filter(order, plan.cursor, back)
        if after is None:
            raise _bad_cursor()
        stages.append({"$match": after})
    sort = {field: (-1 if descending != back else 1) for field, descending in order}
    hidden = {"idx": 0, **{f"_{x}{i}": 0 for i in range(len(plan.sort)) for x in "ak"}}
    stages += [{"$sort": sort}, {"$limit": plan.count + 1}, {"$project": hidden}]
    cursor = await resources.aggregate(stages)
    return held.merge(await cursor.to_list(None), plan.cursor, plan.count + 1)


# How often a later sorted page is read again when resources changed while it was read.
_REREADS = 3


async def _held_sorted(
    tenant: str,
    cols: Collections,
    plan: SearchPlan,
    found: Document,
    back: bool,
    past_index: PastIndex | None,
) -> tuple[list[Document], list[OrderField], int | None]:
    """A sorted page that holds still (search_held), and the watermark its cursors carry.
    MongoDB reads the page in several reads, so each is checked against a write landing
    between them: a first page reads the counter before and after its sort (the mark is
    sound when no position was taken meanwhile); a later page reads the changes since the
    mark before and after its sort. Either reads the page again when they differ."""
    order = order_fields(plan.sort)
    for _ in range(_REREADS):
        before = await watermark(cols, tenant) if plan.cursor is None else None
        held = await held_sort(tenant, cols, plan, found, order, past_index)
        docs = await _sorted(cols.resources, plan, found, back, held)
        if past_index is None:
            return docs, order, None
        if held.mark is None:  # a first page (or a cursor from before marks)
            mark = await watermark(cols, tenant)
            if before is None or before == mark:
                return docs, order, mark
        elif await changes_since(cols, tenant, plan, held.mark) == held.changes:
            return docs, order, held.mark
    if plan.cursor is None:
        return docs, order, await watermark(cols, tenant)  # writes without pause: as is
    raise PagingExpired


async def search_page(
    tenant: str, cols: Collections, plan: SearchPlan, past_index: PastIndex | None
) -> SearchPage:
    resources = cols.resources
    finder = CollectionFinder(resources)
    found = await plan_filter(tenant, plan, finder)
    total = await _total(resources, plan, found)
    if plan.count == 0:
        return SearchPage([], total, has_next=False, has_previous=False)
    back = plan.cursor is not None and plan.cursor.direction == "before"
    mark = None
    if plan.sort:
        docs, order, mark = await _held_sorted(tenant, cols, plan, found, back, past_index)
    else:
        docs, order = await _unsorted(resources, plan, found, back)
    more = len(docs) > plan.count
    docs = docs[: plan.count]
    if back:
        docs.reverse()
    matches = [stored_version(d, "pos") for d in docs]
    cursors = [Cursor(int(d["pos"]), "after", _sort_values(d, order), snapshot=mark) for d in docs]
    has_next, has_previous = (True, more) if back else (more, plan.cursor is not None)
    return SearchPage(matches, total, has_next, has_previous, [], cursors)


def _sort_values(doc: Document, order: list[OrderField]) -> tuple[str | int | float | None, ...]:
    values = (doc.get(field) for field, _ in order[:-1])
    return tuple(v if v is None or isinstance(v, str | int | float) else str(v) for v in values)
