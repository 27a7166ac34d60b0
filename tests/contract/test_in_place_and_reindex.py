"""`WriteOp.in_place` (a body replaced without a new version) and `replace_index`, on
every backend, as the SQLite reference implements them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fhir_server.search.entries import TokenEntry
from fhir_server.search.plan import SearchPlan, TokenCondition, TokenMatch
from fhir_server.storage.contracts import HistoryQuery, ResourceStore, VersionConflict, WriteOp
from tests.contract.backends import BACKENDS, open_store


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ResourceStore]:
    async with open_store(request.param, tmp_path) as opened:
        yield opened


def tag(code: str) -> tuple[TokenEntry, ...]:
    return (TokenEntry("_tag", None, code, None),)


def write(
    version: int,
    body: bytes | None,
    code: str = "x",
    *,
    in_place: bool = False,
    expected: int | None = None,
) -> WriteOp:
    expected = version - 1 if expected is None else expected
    return WriteOp(
        "Patient",
        "p",
        expected,
        version,
        1_000 * version,
        "PUT",
        body,
        tag(code),
        in_place=in_place,
    )


async def ids_tagged(store: ResourceStore, code: str) -> list[str]:
    plan = SearchPlan("Patient", (TokenCondition("_tag", (TokenMatch(None, code, False),)),))
    return [m.id for m in (await store.search(plan)).matches]


async def test_in_place_replaces_the_current_body_and_index(store: ResourceStore) -> None:
    await store.commit([write(1, b'{"v":1}', "old")])
    await store.commit([write(1, b'{"v":"1b"}', "new", in_place=True, expected=1)])
    current = await store.read("Patient", "p")
    assert current is not None and current.version == 1 and current.body == b'{"v":"1b"}'
    assert current.last_updated_us == 1_000  # no new version, no new instant
    assert (await store.vread("Patient", "p", 1)).body == b'{"v":"1b"}'  # type: ignore[union-attr]
    assert (await store.history(HistoryQuery("Patient", "p"))).total == 1
    assert await ids_tagged(store, "new") == ["p"] and await ids_tagged(store, "old") == []


async def test_in_place_on_an_older_version_changes_only_its_history(store: ResourceStore) -> None:
    await store.commit([write(1, b'{"v":1}', "one")])
    await store.commit([write(2, b'{"v":2}', "two")])
    await store.commit([write(1, b'{"v":"1b"}', "ignored", in_place=True, expected=2)])
    assert (await store.vread("Patient", "p", 1)).body == b'{"v":"1b"}'  # type: ignore[union-attr]
    current = await store.read("Patient", "p")
    assert current is not None and current.body == b'{"v":2}'
    assert await ids_tagged(store, "two") == ["p"] and await ids_tagged(store, "ignored") == []


async def test_in_place_refusals(store: ResourceStore) -> None:
    with pytest.raises(VersionConflict):  # no such resource
        await store.commit([write(1, b"{}", in_place=True, expected=1)])
    await store.commit([write(1, b'{"v":1}')])
    await store.commit([write(2, None)])  # deleted: version 2 has no body to replace
    with pytest.raises(VersionConflict):
        await store.commit([write(2, b"{}", in_place=True, expected=2)])
    with pytest.raises(VersionConflict):  # version 9 does not exist
        await store.commit([write(9, b"{}", in_place=True, expected=2)])
    with pytest.raises(VersionConflict):  # the current version, but a stale expectation
        await store.commit([write(2, b"{}", in_place=True, expected=1)])
    assert (await store.vread("Patient", "p", 1)).body == b'{"v":1}'  # type: ignore[union-attr]


async def test_replace_index_only_for_the_current_version(store: ResourceStore) -> None:
    await store.commit([write(1, b"{}", "before")])
    assert await store.replace_index("Patient", "p", 1, tag("after")) is True
    assert await ids_tagged(store, "after") == ["p"] and await ids_tagged(store, "before") == []
    await store.commit([write(2, b"{}", "two")])
    assert await store.replace_index("Patient", "p", 1, tag("stale")) is False
    assert await ids_tagged(store, "stale") == [] and await ids_tagged(store, "two") == ["p"]
    assert await store.replace_index("Patient", "missing", 1, tag("x")) is False
