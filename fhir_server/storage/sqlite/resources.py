"""The SQLite `ResourceStore`: one tenant's resources, history and search index."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar

from fhir_server.search.entries import DATE_MAX, IndexEntry
from fhir_server.search.plan import Condition, IncludeSpec, SearchPlan
from fhir_server.storage.contracts import (
    HistoryPage,
    HistoryQuery,
    PastIndex,
    QueryTooCostly,
    SearchPage,
    StoredVersion,
    WriteOp,
)
from fhir_server.storage.sqlite import write_jobs
from fhir_server.storage.sqlite.connection import open_connection
from fhir_server.storage.sqlite.history_sql import history_page
from fhir_server.storage.sqlite.index_rows import PreparedIndex, prepare_index
from fhir_server.storage.sqlite.rows import version_of
from fhir_server.storage.sqlite.schema import (
    ADDED_COLUMNS,
    PK_INDEXES,
    TENANT_SCHEMA,
    pk_index_sql,
)
from fhir_server.storage.sqlite.search_includes import canonicals_held, include_step
from fhir_server.storage.sqlite.search_page import explain, search_page
from fhir_server.storage.sqlite.token_counts import (
    create_token_counts,
    kept_count,
    token_counts_exist,
)
from fhir_server.storage.sqlite.write_costs import commit_cost, reindex_cost
from fhir_server.storage.sqlite.writer import GroupCommitWriter

__all__ = ["SqliteResourceStore"]

_T = TypeVar("_T")

_CURRENT = "SELECT type, id, version, last_updated_us, method, body, pk FROM resources"


class SqliteResourceStore:
    """Reads run on the caller's thread with a per-thread connection (a primary-key read
    costs ~0.1 ms, cheaper than a thread hop); writes go through the group-commit writer;
    searches and history run in worker threads so a long scan never stalls the loop."""

    def __init__(self, path: Path, *, query_seconds: float | None = None) -> None:
        """`query_seconds`: how long a search, history or include query may run before it
        is stopped (QueryTooCostly); None lets it run."""
        self._path = path
        self._query_seconds = query_seconds
        self._local = threading.local()
        writer_conn = open_connection(path, schema=TENANT_SCHEMA, writer=True)
        try:
            _add_missing_columns(writer_conn)
            _backfill_date_widths(writer_conn)
            counted = token_counts_exist(writer_conn)
            pk_indexes_current = not _stale_pk_indexes(writer_conn)
        except BaseException:
            writer_conn.close()
            raise
        self._writer = GroupCommitWriter(
            writer_conn, path, on_rollback=partial(write_jobs.forget_widths, str(path))
        )
        # A database from before the counts, or from before the pk indexes held parameter
        # and value: brought up to date as write jobs, under the write lock every process
        # takes (no write falls between the counts and their triggers; no two processes
        # rebuild one index).
        try:
            if not counted:
                self._writer.submit_blocking(create_token_counts)
            if not pk_indexes_current:
                self._writer.submit_blocking(_rebuild_pk_indexes)
        except BaseException:
            self._writer.close()
            raise
        self._all_conns: list[sqlite3.Connection] = []
        self._db = str(path)
        self._conns_lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = open_connection(self._path)
            if self._query_seconds is not None:
                conn.set_progress_handler(partial(_past_deadline, self._local), _STEPS_PER_CHECK)
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
        indexes = [prepare_index(op.resource_type, op.index) for op in ops]
        cost = commit_cost(self._conn(), ops, indexes)
        await self._writer.submit(self._apply_job(ops, indexes), cost=cost)

    async def supports_transactions(self) -> bool:
        return True  # every commit is one SQLite transaction

    def commit_blocking(self, ops: Sequence[WriteOp]) -> None:
        indexes = [prepare_index(op.resource_type, op.index) for op in ops]
        self._writer.submit_blocking(self._apply_job(ops, indexes))

    def _apply_job(self, ops: Sequence[WriteOp], indexes: list[PreparedIndex]) -> partial[None]:
        # Index rows are built by the caller, not under the database lock.
        return partial(write_jobs.apply_ops, path=self._db, ops=ops, indexes=indexes)

    async def history(self, query: HistoryQuery) -> HistoryPage:
        return await asyncio.to_thread(self._timed, lambda: history_page(self._conn(), query))

    async def search(self, plan: SearchPlan, past_index: PastIndex | None = None) -> SearchPage:
        if past_index is None and plan.cursor is None and self._counted_none(plan):
            # One row read here answers it: no thread hop. The usual conditional create
            # (`If-None-Exist: identifier=system|value`) asks exactly this, and finds none.
            return SearchPage([], None if plan.total == "none" else 0, False, False)
        return await asyncio.to_thread(
            self._timed, lambda: self._search_in_snapshot(plan, past_index)
        )

    def _timed(self, query: Callable[[], _T]) -> _T:
        """Run `query` on this thread's connection, stopped once it has run longer than
        `query_seconds`: a search's cost can grow with the square of one resource's values
        (a Patient with thousands of names, searched by a prefix of them all), and a client
        that gives up does not stop the thread that runs it."""
        if self._query_seconds is None:
            return query()
        self._local.deadline = time.monotonic() + self._query_seconds
        try:
            return query()
        except sqlite3.OperationalError as exc:
            if str(exc) == "interrupted":
                raise QueryTooCostly(self._query_seconds) from exc
            raise
        finally:
            self._local.deadline = None

    def _counted_none(self, plan: SearchPlan) -> bool:
        """Whether the kept token counts say that nothing matches `plan`."""
        return kept_count(self._conn(), plan) == 0  # None: the counts do not answer it

    def _search_in_snapshot(self, plan: SearchPlan, past_index: PastIndex | None) -> SearchPage:
        """A page takes several statements (a chain resolved to its set, the rows, the
        total): one read transaction makes them all see the same database."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            return search_page(conn, plan, past_index)
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")  # read only: nothing to keep

    async def replace_index(
        self, resource_type: str, resource_id: str, version: int, index: Sequence[IndexEntry]
    ) -> bool:
        prepared = prepare_index(resource_type, index)
        job = partial(
            write_jobs.replace_index,
            path=self._db,
            resource_type=resource_type,
            resource_id=resource_id,
            version=version,
            prepared=prepared,
        )
        return bool(await self._writer.submit(job, cost=reindex_cost(prepared)))

    async def read_setting(self, name: str) -> bytes | None:
        row = self._conn().execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return bytes(row[0]) if row else None

    async def write_setting(self, name: str, value: bytes) -> None:
        await self._writer.submit(partial(write_jobs.write_setting, name=name, value=value))

    async def include(
        self, spec: IncludeSpec, sources: Sequence[StoredVersion]
    ) -> list[StoredVersion]:
        return await asyncio.to_thread(
            self._timed, lambda: include_step(self._conn(), spec, list(sources))
        )

    async def canonicals(
        self, resource_type: str, param: str, condition: Condition, limit: int
    ) -> list[tuple[str, str | None]]:
        return await asyncio.to_thread(
            self._timed,
            lambda: canonicals_held(self._conn(), resource_type, param, condition, limit),
        )

    def explain_search(self, plan: SearchPlan) -> list[str]:
        """SQLite's plan for the plan's first page (for the index-use checks)."""
        return explain(self._conn(), plan)

    async def aclose(self) -> None:
        """Close once the writes queued from this loop are durable."""
        await self._writer.aclose()
        self._close_readers()

    def close(self) -> None:
        self._writer.close()
        self._close_readers()

    def _close_readers(self) -> None:
        with self._conns_lock:
            for conn in self._all_conns:
                conn.close()
            self._all_conns.clear()


# SQLite virtual machine steps between two looks at the clock: ~1 ms of work or less, for
# a look that costs a microsecond.
_STEPS_PER_CHECK = 10_000


def _past_deadline(local: threading.local) -> bool:
    """SQLite's progress handler: True stops the running statement ("interrupted")."""
    deadline: float | None = getattr(local, "deadline", None)
    return deadline is not None and time.monotonic() > deadline


def _stale_pk_indexes(conn: sqlite3.Connection) -> list[str]:
    """The index tables whose `{table}_pk` index is not as PK_INDEXES says (a database made
    when it held the pk alone)."""
    stale = []
    for table, columns in PK_INDEXES.items():
        found = conn.execute(f"PRAGMA index_info({table}_pk)").fetchall()
        if tuple(str(row[2]) for row in sorted(found)) != columns:
            stale.append(table)
    return stale


def _rebuild_pk_indexes(conn: sqlite3.Connection) -> None:
    """Remake the stale pk indexes (a write job: another process may have remade them
    while this one waited for the lock). Once per database; on a large one it takes a
    while, as any index build does."""
    for table in _stale_pk_indexes(conn):
        conn.execute(f"DROP INDEX IF EXISTS {table}_pk")
        conn.execute(pk_index_sql(table))


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Give a database made before a column existed that column (ADDED_COLUMNS); another
    process opening it at the same moment may have added it first."""
    for table, column, declaration in ADDED_COLUMNS:
        present = {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}
        if column in present:
            continue
        try:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):
                raise


def _backfill_date_widths(conn: sqlite3.Connection) -> None:
    """A database written before `date_widths` existed: derive the widths once from the
    date index (date walks rely on them being at least the true maxima)."""
    if conn.execute("SELECT 1 FROM date_widths LIMIT 1").fetchone() is not None:
        return
    if conn.execute("SELECT 1 FROM idx_date LIMIT 1").fetchone() is None:
        return
    conn.execute(
        "INSERT OR IGNORE INTO date_widths "
        # high - low of an open-ended range leaves int64 (SQLite turns it into a REAL)
        f"SELECT type, param, MIN(MAX(high - low), {DATE_MAX}) FROM idx_date GROUP BY type, param"
    )
