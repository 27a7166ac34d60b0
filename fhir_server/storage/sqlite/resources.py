"""The SQLite `ResourceStore`: one tenant's resources, history and search index."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from fhir_server.search.entries import IndexEntry
from fhir_server.search.plan import IncludeSpec, SearchPlan
from fhir_server.storage.contracts import (
    HistoryPage,
    HistoryQuery,
    SearchPage,
    StoredVersion,
    VersionConflict,
    WriteOp,
)
from fhir_server.storage.sqlite.connection import open_connection
from fhir_server.storage.sqlite.history_sql import history_page
from fhir_server.storage.sqlite.index_rows import (
    KnownWidths,
    delete_index_rows,
    insert_index_rows,
)
from fhir_server.storage.sqlite.rows import version_of
from fhir_server.storage.sqlite.schema import TENANT_SCHEMA
from fhir_server.storage.sqlite.search_includes import include_step
from fhir_server.storage.sqlite.search_page import explain, search_page
from fhir_server.storage.sqlite.writer import GroupCommitWriter

__all__ = ["SqliteResourceStore"]

_CURRENT = "SELECT type, id, version, last_updated_us, method, body, pk FROM resources"


class SqliteResourceStore:
    """Reads run on the caller's thread with a per-thread connection (a primary-key read
    costs ~0.1 ms, cheaper than a thread hop); writes go through the group-commit writer;
    searches and history run in worker threads so a long scan never stalls the loop."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()
        writer_conn = open_connection(path, schema=TENANT_SCHEMA)
        _backfill_date_widths(writer_conn)
        self._writer = GroupCommitWriter(writer_conn, path.stem, f"{path}.lock")
        self._all_conns: list[sqlite3.Connection] = []
        self._known_widths: KnownWidths = {}  # touched by the writer thread only
        self._conns_lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = open_connection(self._path)
            self._local.conn = conn
            with self._conns_lock:
                self._all_conns.append(conn)
        return conn

    def read_now(self, resource_type: str, resource_id: str) -> StoredVersion | None:
        row = (
            self._conn()
            .execute(f"{_CURRENT} WHERE type = ? AND id = ?", (resource_type, resource_id))
            .fetchone()
        )
        return version_of(row) if row else None

    async def read(self, resource_type: str, resource_id: str) -> StoredVersion | None:
        return self.read_now(resource_type, resource_id)

    async def vread(
        self, resource_type: str, resource_id: str, version: int
    ) -> StoredVersion | None:
        row = (
            self._conn()
            .execute(
                "SELECT type, id, version, last_updated_us, method, body, seq FROM history "
                "WHERE pk = (SELECT pk FROM resources WHERE type = ? AND id = ?) AND version = ?",
                (resource_type, resource_id, version),
            )
            .fetchone()
        )
        return version_of(row) if row else None

    async def commit(self, ops: Sequence[WriteOp]) -> None:
        await self._writer.submit(lambda conn: _apply_ops(conn, ops, self._known_widths))

    async def supports_transactions(self) -> bool:
        return True  # every commit is one SQLite transaction

    def commit_blocking(self, ops: Sequence[WriteOp]) -> None:
        self._writer.submit_blocking(lambda conn: _apply_ops(conn, ops, self._known_widths))

    async def history(self, query: HistoryQuery) -> HistoryPage:
        return await asyncio.to_thread(lambda: history_page(self._conn(), query))

    async def search(self, plan: SearchPlan) -> SearchPage:
        return await asyncio.to_thread(lambda: search_page(self._conn(), plan))

    async def replace_index(
        self, resource_type: str, resource_id: str, version: int, index: Sequence[IndexEntry]
    ) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT pk FROM resources "
                "WHERE type = ? AND id = ? AND version = ? AND deleted = 0",
                (resource_type, resource_id, version),
            ).fetchone()
            if row is None:
                return False
            delete_index_rows(conn, [int(row[0])])
            insert_index_rows(conn, resource_type, int(row[0]), index, self._known_widths)
            return True

        return bool(await self._writer.submit(work))

    async def read_setting(self, name: str) -> bytes | None:
        row = self._conn().execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return bytes(row[0]) if row else None

    async def write_setting(self, name: str, value: bytes) -> None:
        await self._writer.submit(
            lambda conn: conn.execute(
                "INSERT INTO settings VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )
        )

    async def include(
        self, spec: IncludeSpec, sources: Sequence[StoredVersion]
    ) -> list[StoredVersion]:
        return await asyncio.to_thread(lambda: include_step(self._conn(), spec, list(sources)))

    def explain_search(self, plan: SearchPlan) -> list[str]:
        """SQLite's plan for the plan's first page (for the index-use checks)."""
        return explain(self._conn(), plan)

    def close(self) -> None:
        self._writer.close()
        with self._conns_lock:
            for conn in self._all_conns:
                conn.close()
            self._all_conns.clear()


def _backfill_date_widths(conn: sqlite3.Connection) -> None:
    """A database written before `date_widths` existed: derive the widths once from the
    date index (date walks rely on them being at least the true maxima)."""
    if conn.execute("SELECT 1 FROM date_widths LIMIT 1").fetchone() is not None:
        return
    if conn.execute("SELECT 1 FROM idx_date LIMIT 1").fetchone() is None:
        return
    conn.execute(
        "INSERT OR IGNORE INTO date_widths "
        "SELECT type, param, MAX(high - low) FROM idx_date GROUP BY type, param"
    )


def _apply_ops(
    conn: sqlite3.Connection, ops: Sequence[WriteOp], known_widths: KnownWidths | None = None
) -> None:
    """Apply each op as a compare-and-swap; runs inside the writer's transaction."""
    for index, op in enumerate(ops):
        row = conn.execute(
            "SELECT pk, version FROM resources WHERE type = ? AND id = ?",
            (op.resource_type, op.id),
        ).fetchone()
        current = int(row[1]) if row else 0
        if op.in_place:
            _replace_in_place(conn, index, op, int(row[0]) if row else None, current)
            continue
        if current != op.expected_version:
            raise VersionConflict(index, current)
        deleted = op.body is None
        if row:
            pk = int(row[0])
            conn.execute(
                "UPDATE resources SET version = ?, last_updated_us = ?, method = ?, "
                "deleted = ?, body = ? WHERE pk = ?",
                (op.version, op.last_updated_us, op.method, deleted, op.body, pk),
            )
            conn.execute(
                "UPDATE history SET ended_us = ? WHERE pk = ? AND ended_us IS NULL",
                (op.last_updated_us, pk),
            )
            delete_index_rows(conn, [pk])
        else:
            cursor = conn.execute(
                "INSERT INTO resources (type, id, version, last_updated_us, method, deleted, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    op.resource_type,
                    op.id,
                    op.version,
                    op.last_updated_us,
                    op.method,
                    deleted,
                    op.body,
                ),
            )
            pk = int(cursor.lastrowid or 0)
        conn.execute(
            "INSERT INTO history (pk, type, id, version, last_updated_us, method, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (pk, op.resource_type, op.id, op.version, op.last_updated_us, op.method, op.body),
        )
        if not deleted:
            insert_index_rows(conn, op.resource_type, pk, op.index, known_widths)


def _replace_in_place(
    conn: sqlite3.Connection, index: int, op: WriteOp, pk: int | None, current: int
) -> None:
    """Replace the body of an existing version without adding one (WriteOp.in_place)."""
    if pk is None or op.body is None:
        raise VersionConflict(index, current)
    if op.version == current:
        if op.expected_version != current:
            raise VersionConflict(index, current)
        conn.execute("UPDATE resources SET body = ? WHERE pk = ?", (op.body, pk))
        delete_index_rows(conn, [pk])
        insert_index_rows(conn, op.resource_type, pk, op.index)
    cursor = conn.execute(
        "UPDATE history SET body = ? WHERE pk = ? AND version = ? AND body IS NOT NULL",
        (op.body, pk, op.version),
    )
    if cursor.rowcount != 1:
        raise VersionConflict(index, current)
