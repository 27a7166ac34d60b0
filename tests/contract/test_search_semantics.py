"""Edge cases of condition semantics where SQL and MongoDB differ by nature (NULLs,
missing fields, arrays, regex metacharacters): every backend must answer as SQLite does."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fhir_server.search.entries import (
    DateEntry,
    NumberEntry,
    ReferenceEntry,
    StringEntry,
    TokenEntry,
)
from fhir_server.search.plan import (
    Bound,
    Condition,
    DateCondition,
    IdCondition,
    MissingCondition,
    NumberCondition,
    RangeMatch,
    SearchPlan,
    StringCondition,
    TokenCondition,
    TokenMatch,
)
from fhir_server.storage.contracts import ResourceStore, VersionConflict, WriteOp
from fhir_server.storage.sqlite import SqliteResourceStore
from tests.contract.backends import BACKENDS, open_store


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ResourceStore]:
    async with open_store(request.param, tmp_path) as opened:
        await opened.commit([op("coded", TokenEntry("code", "http://loinc.org", "1", None))])
        await opened.commit([op("text-only", TokenEntry("code", None, None, "free text"))])
        await opened.commit(
            [op("dated", DateEntry("date", 100, 199), StringEntry("name", "a.c", "A.C"))]
        )
        await opened.commit([op("undated", StringEntry("name", "abc", "Abc"))])
        yield opened


def op(rid: str, *index: object) -> WriteOp:
    return WriteOp("Observation", rid, 0, 1, 1_000, "POST", b"{}", index)  # type: ignore[arg-type]


async def ids(store: ResourceStore, *conditions: Condition) -> set[str]:
    return {m.id for m in (await store.search(SearchPlan("Observation", conditions))).matches}


async def test_a_token_without_code_matches_no_entry(store: ResourceStore) -> None:
    nothing = TokenMatch(None, None, True)  # `code=|`
    assert await ids(store, TokenCondition("code", (nothing,))) == set()
    everyone = {"coded", "text-only", "dated", "undated"}
    assert await ids(store, TokenCondition("code", (nothing,), negated=True)) == everyone
    bare = TokenMatch(None, "1", True)  # `|1`: code 1 with no system
    assert await ids(store, TokenCondition("code", (bare,))) == set()


async def test_ne_needs_a_value_and_not_needs_none(store: ResourceStore) -> None:
    ne = RangeMatch((Bound("low", ">=", 100), Bound("high", "<=", 199)), negated=True)
    assert await ids(store, DateCondition("date", (ne,))) == set()
    ne_other = RangeMatch((Bound("low", ">=", 500), Bound("high", "<=", 599)), negated=True)
    assert await ids(store, DateCondition("date", (ne_other,))) == {"dated"}
    code_1 = TokenMatch(None, "1", False)
    not_1 = TokenCondition("code", (code_1,), negated=True)
    assert await ids(store, not_1) == {"text-only", "dated", "undated"}


async def test_missing(store: ResourceStore) -> None:
    assert await ids(store, MissingCondition("date", "date", True)) == {
        "coded",
        "text-only",
        "undated",
    }
    assert await ids(store, MissingCondition("date", "date", False)) == {"dated"}
    assert await ids(store, MissingCondition("code", "token", False)) == {"coded", "text-only"}


async def test_string_matching_is_literal(store: ResourceStore) -> None:
    assert await ids(store, StringCondition("name", (".",), "contains")) == {"dated"}
    assert await ids(store, StringCondition("name", ("a.",), "starts")) == {"dated"}
    assert await ids(store, StringCondition("name", ("a",), "starts")) == {"dated", "undated"}
    assert await ids(store, StringCondition("name", ("[a-z]",), "contains")) == set()
    assert await ids(store, StringCondition("name", ("A.C",), "exact")) == {"dated"}
    assert await ids(store, StringCondition("name", ("a.c",), "exact")) == set()


async def test_a_rolled_back_write_leaves_later_wide_ranges_findable(store: ResourceStore) -> None:
    # A write that rolls back leaves nothing behind, not even in what a store remembers of
    # its data (SQLite keeps the widest date range per parameter to bound range walks).
    wide = DateEntry("date", 0, 10_000)
    conflicting = WriteOp("Observation", "coded", 0, 1, 1_000, "POST", b"{}", ())
    with pytest.raises(VersionConflict):
        await store.commit([op("first-wide", wide), conflicting])
    await store.commit([op("second-wide", wide)])
    reaching_past = RangeMatch((Bound("high", ">=", 5_000),))
    assert await ids(store, DateCondition("date", (reaching_past,))) == {"second-wide"}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_accurate_totals_follow_every_write(backend: str, tmp_path: Path) -> None:
    """SQLite keeps a count per token code; it must move with creates, updates, deletes
    and refused batches exactly as the matches themselves do."""

    def coded(rid: str, version: int, *codes: str, body: bytes | None = b"{}") -> WriteOp:
        entries = [TokenEntry("code", "http://loinc.org", c, None) for c in codes]
        return WriteOp("Observation", rid, version - 1, version, version, "PUT", body, entries)

    async def total(code: str) -> int | None:
        match = TokenCondition("code", (TokenMatch("http://loinc.org", code, True),))
        plan = SearchPlan("Observation", (match,), count=0, total="accurate")
        return (await store.search(plan)).total

    async with open_store(backend, tmp_path) as store:
        await store.commit([coded("a", 1, "1"), coded("b", 1, "1", "2"), coded("c", 1, "2")])
        assert (await total("1"), await total("2"), await total("3")) == (2, 2, 0)
        await store.commit([coded("b", 2, "3")])  # b: 1 and 2 -> 3
        await store.commit([coded("c", 2, body=None)])  # c deleted
        assert (await total("1"), await total("2"), await total("3")) == (1, 0, 1)
        with pytest.raises(VersionConflict):  # a stale second op: the batch applies nothing
            await store.commit([coded("a", 2, "3"), coded("b", 2, "1")])
        assert (await total("1"), await total("2"), await total("3")) == (1, 0, 1)
        await store.commit([coded("c", 3, "1")])  # c back
        assert (await total("1"), await total("2"), await total("3")) == (2, 0, 1)


async def test_sqlite_counts_a_database_from_before_the_counts_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    store = SqliteResourceStore(path)
    store.commit_blocking([op("a", TokenEntry("code", "http://loinc.org", "1", None))])
    store.close()
    with sqlite3.connect(path) as old:  # what a database written before the counts lacks
        old.executescript(
            "DROP TRIGGER token_counted; DROP TRIGGER token_uncounted; DROP TABLE token_counts"
        )
    old.close()
    # two server processes opening it at once: one counts, the other finds it counted
    with ThreadPoolExecutor(2) as pool:
        store, other = pool.map(lambda _: SqliteResourceStore(path), range(2))
    try:
        other.commit_blocking([op("b", TokenEntry("code", "http://loinc.org", "1", None))])
        match = TokenCondition("code", (TokenMatch("http://loinc.org", "1", True),))
        plan = SearchPlan("Observation", (match,), count=0, total="accurate")
        assert (await store.search(plan)).total == 2
    finally:
        store.close()
        other.close()


async def test_sqlite_adds_the_range_mark_to_a_database_from_before_it(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    store = SqliteResourceStore(path)
    store.commit_blocking([op("a", NumberEntry("value", 7.5, 8.5))])  # a stated 8
    store.close()
    with sqlite3.connect(path) as old:  # what a database written before the mark lacks
        old.executescript(
            "ALTER TABLE idx_number DROP COLUMN is_range; "
            "ALTER TABLE idx_quantity DROP COLUMN is_range"
        )
    old.close()
    store = SqliteResourceStore(path)
    try:
        store.commit_blocking([op("b", NumberEntry("value", 1.0, 10.0, is_range=True))])
        above = NumberCondition("value", (RangeMatch((Bound("mid", ">", 8.0, "high"),)),))
        assert await ids(store, above) == {"b"}  # the old stated 8 is not above 8
    finally:
        store.close()


async def test_canonicals_are_the_distinct_url_references_of_the_matches(
    store: ResourceStore,
) -> None:
    form = "http://example.org/Q/1"
    await store.commit(
        [
            op("r1", ReferenceEntry("derived-from", None, None, form, "2.0", None, None)),
            op("r2", ReferenceEntry("derived-from", None, None, form, None, None, None)),
            op("r3", ReferenceEntry("derived-from", None, None, form, "2.0", None, None)),
            # a literal reference, and another parameter: not canonicals of derived-from
            op("r4", ReferenceEntry("derived-from", "Patient", "p1", None, None, None, None)),
            op(
                "r5",
                ReferenceEntry("focus", None, None, "http://example.org/Q/9", None, None, None),
            ),
        ]
    )
    every = IdCondition(("r1", "r2", "r3", "r4", "r5", "coded"))
    found = await store.canonicals("Observation", "derived-from", every, 10)
    assert sorted(found, key=str) == sorted([(form, "2.0"), (form, None)], key=str)
    assert await store.canonicals("Observation", "derived-from", IdCondition(("r3",)), 10) == [
        (form, "2.0")
    ]
    assert len(await store.canonicals("Observation", "derived-from", every, 1)) == 1
    # only current resources hold anything
    await store.commit([WriteOp("Observation", "r3", 1, 2, 2_000, "DELETE", None, ())])
    await store.commit([WriteOp("Observation", "r1", 1, 2, 2_000, "DELETE", None, ())])
    assert await store.canonicals("Observation", "derived-from", every, 10) == [(form, None)]
