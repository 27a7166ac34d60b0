"""`_sort` order (lowest/highest value per resource, missing values last, then position)
and paging through it with cursors, forwards and back, on every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fhir_server.search.entries import DateEntry, StringEntry
from fhir_server.search.plan import Cursor, SearchPlan, SortKey
from fhir_server.storage.contracts import ResourceStore, WriteOp
from tests.contract.backends import BACKENDS, open_store


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ResourceStore]:
    async with open_store(request.param, tmp_path) as opened:
        yield opened


# id -> date ranges (several per resource: the lowest sorts ascending, the highest
# descending) and a name; "e" and "f" have no date.
DATA = {
    "a": [(30, 31)],
    "b": [(10, 11), (50, 51)],
    "c": [(20, 21)],
    "d": [(20, 21)],
    "e": [],
    "f": [],
}


async def load(store: ResourceStore) -> None:
    for rid, ranges in DATA.items():
        index = [DateEntry("date", lo, hi) for lo, hi in ranges]
        index.append(StringEntry("name", f"n-{rid}", f"N-{rid}"))
        await store.commit([WriteOp("Observation", rid, 0, 1, 1_000, "POST", b"{}", index)])


async def walk(store: ResourceStore, sort: tuple[SortKey, ...]) -> tuple[list[str], list[str]]:
    """Every id page by page (two per page) forwards, then backwards from the last page."""
    forward: list[str] = []
    cursor: Cursor | None = None
    while True:
        page = await store.search(SearchPlan("Observation", count=2, cursor=cursor, sort=sort))
        forward += [m.id for m in page.matches]
        if not page.has_next:
            break
        last = page.cursors[-1]
        cursor = Cursor(last.position, "after", last.sort_values)
    backward: list[str] = []
    while page.has_previous:
        first = page.cursors[0]
        cursor = Cursor(first.position, "before", first.sort_values)
        page = await store.search(SearchPlan("Observation", count=2, cursor=cursor, sort=sort))
        backward = [m.id for m in page.matches] + backward
    return forward, [*backward, *forward[-(len(forward) - len(backward)) :]]


async def test_sort_ascending_descending_and_by_two_keys(store: ResourceStore) -> None:
    await load(store)
    ascending = (SortKey("date", "date", "low"),)
    forward, back = await walk(store, ascending)
    assert forward == ["b", "c", "d", "a", "e", "f"] and back == forward
    descending = (SortKey("date", "date", "low", descending=True),)
    forward, back = await walk(store, descending)
    # c and d tie on their date: FHIR leaves their order open (SQLite's index walk gives
    # them in reverse position order here), but each backend's order must be total
    assert forward in (["b", "a", "c", "d", "e", "f"], ["b", "a", "d", "c", "e", "f"])
    assert back == forward
    by_date_then_name = (SortKey("date", "date", "low"), SortKey("name", "string", "value", True))
    forward, back = await walk(store, by_date_then_name)
    assert forward == ["b", "d", "c", "a", "f", "e"] and back == forward
    by_id = (SortKey("_id", "resource", "id", descending=True),)
    assert (await walk(store, by_id))[0] == ["f", "e", "d", "c", "b", "a"]
