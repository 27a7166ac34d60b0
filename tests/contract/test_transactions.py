"""Atomic batches: `supports_transactions()`, refusal on a standalone MongoDB server, and
all-or-nothing under racing batches (which only a real transaction can give)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fhir_server.storage.contracts import (
    HistoryQuery,
    TransactionsUnsupported,
    VersionConflict,
    WriteOp,
)
from tests.contract.backends import BACKENDS, TEST_TENANT, double_provider, open_store
from tests.mongo_double import MongoDouble


def put(rid: str, version: int, body: bytes = b"{}") -> WriteOp:
    return WriteOp("Patient", rid, version - 1, version, 1_000 * version, "PUT", body)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_replica_sets_and_sqlite_support_transactions(backend: str, tmp_path: Path) -> None:
    async with open_store(backend, tmp_path) as store:
        # the double answers `hello` as a replica set; a real test server must be one
        assert await store.supports_transactions() is True, (
            "FHIR_TEST_MONGODB_URI must name a replica set (docs/mongodb.md shows one)"
        )


async def test_standalone_mongodb_refuses_a_batch_and_applies_none_of_it() -> None:
    provider = double_provider(MongoDouble(replica_set=False))
    store = provider.for_tenant(TEST_TENANT)
    try:
        assert await store.supports_transactions() is False
        with pytest.raises(TransactionsUnsupported):
            await store.commit([put("a", 1), put("b", 1)])
        assert await store.read("Patient", "a") is None
        assert await store.read("Patient", "b") is None
        await store.commit([put("single", 1)])  # one op needs no transaction
        assert (await store.read("Patient", "single")) is not None
    finally:
        await provider.aclose()


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "mongodb"])
async def test_racing_batches_are_each_all_or_nothing(backend: str, tmp_path: Path) -> None:
    """Batches writing A then B race batches writing B then A. Without a transaction one
    batch can win A, lose B and leave A changed alone (the in-process MongoDB double,
    which has none, fails this test); with one, A and B always move together."""
    async with open_store(backend, tmp_path) as store:
        await store.commit([put("A", 1), put("B", 1)])

        async def attempt(n: int) -> bool:
            a, b = await store.read("Patient", "A"), await store.read("Patient", "B")
            assert a is not None and b is not None
            ops = [
                WriteOp("Patient", "A", a.version, a.version + 1, 2_000 + n, "PUT", b"{}"),
                WriteOp("Patient", "B", b.version, b.version + 1, 2_000 + n, "PUT", b"{}"),
            ]
            try:
                await store.commit(ops if n % 2 else ops[::-1])
            except VersionConflict:
                return False
            return True

        results = await asyncio.gather(*(attempt(n) for n in range(24)))
        a, b = await store.read("Patient", "A"), await store.read("Patient", "B")
        assert a is not None and b is not None
        assert a.version == b.version == 1 + sum(results)
        history_a = await store.history(HistoryQuery("Patient", "A", count=100))
        history_b = await store.history(HistoryQuery("Patient", "B", count=100))
        assert history_a.total == history_b.total == a.version
