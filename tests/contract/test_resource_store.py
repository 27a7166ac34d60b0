"""The ResourceStore contract: every backend must pass these, unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fhir_server.search.entries import DateEntry, TokenEntry
from fhir_server.search.plan import (
    Bound,
    Cursor,
    IdCondition,
    LastUpdatedCondition,
    RangeMatch,
    SearchPlan,
    TokenCondition,
    TokenMatch,
)
from fhir_server.storage.contracts import HistoryQuery, ResourceStore, VersionConflict, WriteOp
from tests.contract.backends import BACKENDS, open_store


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ResourceStore]:
    async with open_store(request.param, tmp_path) as opened:
        yield opened


def op(
    rid: str,
    version: int,
    *,
    expected: int | None = None,
    at: int = 1_000,
    body: bytes | None = b"{}",
    rtype: str = "Patient",
    index: tuple = (),
) -> WriteOp:
    return WriteOp(
        rtype, rid, version - 1 if expected is None else expected, version, at, "PUT", body, index
    )


async def test_write_then_read_and_vread(store: ResourceStore) -> None:
    await store.commit([op("a", 1, body=b'{"v":1}')])
    await store.commit([op("a", 2, at=2_000, body=b'{"v":2}')])
    current = await store.read("Patient", "a")
    assert current is not None and current.version == 2 and current.body == b'{"v":2}'
    first = await store.vread("Patient", "a", 1)
    assert first is not None and first.body == b'{"v":1}' and first.last_updated_us == 1_000
    assert await store.read("Patient", "missing") is None
    assert await store.read("Observation", "a") is None


async def test_compare_and_swap_refuses_stale_writer(store: ResourceStore) -> None:
    await store.commit([op("a", 1)])
    with pytest.raises(VersionConflict) as caught:
        await store.commit([op("a", 2, expected=0)])
    assert caught.value.current_version == 1
    current = await store.read("Patient", "a")
    assert current is not None and current.version == 1


async def test_batch_is_all_or_nothing(store: ResourceStore) -> None:
    await store.commit([op("taken", 1)])
    with pytest.raises(VersionConflict) as caught:
        await store.commit([op("fresh", 1), op("taken", 1)])
    assert caught.value.op_index == 1
    assert await store.read("Patient", "fresh") is None


async def test_concurrent_writers_exactly_one_wins(store: ResourceStore) -> None:
    await store.commit([op("race", 1)])
    results = await asyncio.gather(
        *(store.commit([op("race", 2, body=f'{{"w":{n}}}'.encode())]) for n in range(10)),
        return_exceptions=True,
    )
    assert sum(1 for r in results if r is None) == 1
    assert all(isinstance(r, VersionConflict) for r in results if r is not None)


async def test_deletion_is_a_version(store: ResourceStore) -> None:
    await store.commit([op("d", 1)])
    await store.commit([op("d", 2, body=None)])
    current = await store.read("Patient", "d")
    assert current is not None and current.deleted
    page = await store.search(SearchPlan("Patient"))
    assert page.matches == []


async def test_history_newest_first_with_filters(store: ResourceStore) -> None:
    await store.commit([op("h", 1, at=100)])
    await store.commit([op("h", 2, at=200)])
    await store.commit([op("h", 3, at=300)])
    await store.commit([op("x", 1, at=250, rtype="Observation")])
    everything = await store.history(HistoryQuery())
    assert [(v.resource_type, v.version) for v in everything.versions] == [
        ("Observation", 1),
        ("Patient", 3),
        ("Patient", 2),
        ("Patient", 1),
    ]
    since = await store.history(HistoryQuery("Patient", "h", since_us=200))
    assert [v.version for v in since.versions] == [3, 2]
    at = await store.history(HistoryQuery("Patient", "h", at_low_us=250, at_high_us=250))
    assert [v.version for v in at.versions] == [2]
    page = await store.history(HistoryQuery("Patient", count=2))
    assert page.has_more and page.total == 3
    rest = await store.history(
        HistoryQuery("Patient", count=2, before_position=page.versions[-1].position)
    )
    assert [v.version for v in rest.versions] == [1] and not rest.has_more


async def test_history_marks_the_versions_that_followed_a_deletion(store: ResourceStore) -> None:
    """A version written over a deletion brought the resource back: the history page names
    it, also when the deletion lies outside the page or the query's window."""
    await store.commit([op("r", 1, at=100)])
    await store.commit([op("r", 2, at=200, body=None)])
    await store.commit([op("r", 3, at=300)])
    await store.commit([op("r", 4, at=400)])
    await store.commit([op("other", 1, at=500)])
    await store.commit([op("other", 2, at=600)])
    page = await store.history(HistoryQuery("Patient"))
    revived = [(v.id, v.version) for v in page.versions if v.position in page.revivals]
    assert revived == [("r", 3)]
    window = await store.history(HistoryQuery("Patient", "r", since_us=300, count=1))
    assert [v.version for v in window.versions] == [4] and not window.revivals
    rest = await store.history(
        HistoryQuery("Patient", "r", since_us=300, before_position=window.versions[0].position)
    )
    assert [v.version for v in rest.versions] == [3]
    assert rest.revivals == {rest.versions[0].position}


async def test_search_by_token_id_and_last_updated(store: ResourceStore) -> None:
    mrn = TokenEntry("identifier", "urn:mrn", "42", None)
    await store.commit([op("p1", 1, at=100, index=(mrn,))])
    await store.commit([op("p2", 1, at=200, index=(TokenEntry("identifier", None, "42", None),))])
    await store.commit([op("p3", 1, at=300, index=(DateEntry("birthdate", 0, 10),))])

    async def ids(*conditions: object) -> list[str]:
        page = await store.search(SearchPlan("Patient", tuple(conditions)))  # type: ignore[arg-type]
        return [m.id for m in page.matches]

    assert await ids(TokenCondition("identifier", (TokenMatch("urn:mrn", "42", True),))) == ["p1"]
    assert await ids(TokenCondition("identifier", (TokenMatch(None, "42", False),))) == ["p1", "p2"]
    assert await ids(TokenCondition("identifier", (TokenMatch(None, "42", True),))) == ["p2"]
    assert await ids(TokenCondition("identifier", (TokenMatch("urn:mrn", None, True),))) == ["p1"]
    assert await ids(
        TokenCondition("identifier", (TokenMatch(None, "42", False),), negated=True)
    ) == ["p3"]
    assert await ids(IdCondition(("p1", "p3"))) == ["p1", "p3"]
    after = RangeMatch((Bound("low", ">", 150),))
    assert await ids(LastUpdatedCondition((after,))) == ["p2", "p3"]


async def test_search_index_follows_the_current_version(store: ResourceStore) -> None:
    await store.commit([op("p", 1, index=(TokenEntry("identifier", None, "old", None),))])
    await store.commit([op("p", 2, index=(TokenEntry("identifier", None, "new", None),))])
    old = await store.search(
        SearchPlan("Patient", (TokenCondition("identifier", (TokenMatch(None, "old", False),)),))
    )
    new = await store.search(
        SearchPlan("Patient", (TokenCondition("identifier", (TokenMatch(None, "new", False),)),))
    )
    assert old.total == 0 and new.total == 1


async def test_search_paging_by_cursor(store: ResourceStore) -> None:
    for n in range(5):
        await store.commit([op(f"r{n}", 1)])
    first = await store.search(SearchPlan("Patient", count=2))
    assert [m.id for m in first.matches] == ["r0", "r1"] and first.has_next and first.total == 5
    second = await store.search(
        SearchPlan("Patient", count=2, cursor=Cursor(first.matches[-1].position, "after"))
    )
    assert [m.id for m in second.matches] == ["r2", "r3"] and second.has_previous
    back = await store.search(
        SearchPlan("Patient", count=2, cursor=Cursor(second.matches[0].position, "before"))
    )
    assert [m.id for m in back.matches] == ["r0", "r1"] and not back.has_previous
    none = await store.search(SearchPlan("Patient", count=2, total="none"))
    assert none.total is None
