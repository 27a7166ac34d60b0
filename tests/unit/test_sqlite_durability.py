"""The SQLite writer acknowledges a write only once the write-ahead log holding it is on
disk: it commits with synchronous=NORMAL and fsyncs the WAL itself, outside the write lock
(fhir_server/storage/sqlite/writer.py, `_WalFile`)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fhir_server.storage.contracts import WriteOp
from fhir_server.storage.sqlite import SqliteResourceStore
from fhir_server.storage.sqlite import writer as writer_module


def create(rid: str) -> WriteOp:
    return WriteOp("Patient", rid, 0, 1, 1_000, "POST", b'{"resourceType":"Patient"}', ())


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteResourceStore]:
    opened = SqliteResourceStore(tmp_path / "tenant.sqlite")
    yield opened
    opened.close()


async def test_each_acknowledged_commit_fsynced_the_wal(
    store: SqliteResourceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        real_fsync(fd)
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))

    monkeypatch.setattr(writer_module.os, "fsync", recording_fsync)
    for n in range(3):
        await store.commit([create(f"p{n}")])
        assert [p for p in synced if p.endswith("tenant.sqlite-wal")] == [synced[0]] * (n + 1)


async def test_a_failed_fsync_is_an_error_not_an_acknowledgement(
    store: SqliteResourceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(writer_module.os, "fsync", failing_fsync)
    with pytest.raises(Exception, match="may not be durable"):
        await store.commit([create("lost")])
    monkeypatch.undo()
    await store.commit([create("kept")])  # the writer carries on once the disk does
    assert await store.read("Patient", "kept") is not None
