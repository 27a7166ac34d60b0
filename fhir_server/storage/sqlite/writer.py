"""Group commit: one writer thread per database applies queued write batches.

Every request's writes wait in a queue; the writer takes all that are waiting, applies each
in its own SAVEPOINT inside one transaction, and commits once (one fsync) for all of them.
Under load this turns many small durable commits into a few larger ones; alone, a batch is
committed at once. A batch that fails (a lost compare-and-swap, a constraint) is rolled back
to its savepoint without disturbing the others in the same transaction.

Several server processes may write to one database. SQLite makes a writer that finds the
database locked sleep and poll (up to 100 ms a nap), which under load turns into seconds
of latency; so writers first take an exclusive `flock` on a lock file beside the
database, which the kernel hands to the next waiter the moment it is released.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["GroupCommitWriter"]

# Most batches one transaction takes: bounds the latency a large group adds to the first.
MAX_GROUP = 256

Work = Callable[[sqlite3.Connection], Any]


@dataclass(slots=True)
class _Job:
    work: Work
    future: asyncio.Future[Any] | None
    loop: asyncio.AbstractEventLoop | None
    done: threading.Event | None = None
    result: Any = None
    error: BaseException | None = None


class GroupCommitWriter:
    """Runs write jobs on one dedicated connection and thread."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        name: str,
        lock_path: str,
        on_rollback: Callable[[], None] | None = None,
    ) -> None:
        """`on_rollback` runs after any job of a group was rolled back (its own failure,
        or the group's): callers that remember what they wrote forget it there."""
        self._conn = conn
        self._on_rollback = on_rollback
        self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"sqlite-writer-{name}", daemon=True)
        self._thread.start()

    async def submit(self, work: Work) -> Any:
        """Run `work(conn)` inside a group transaction; resolves once it is durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(_Job(work, future, loop))
        return await future

    def submit_blocking(self, work: Work) -> Any:
        """The same, for callers outside an event loop (CLI, maintenance)."""
        job = _Job(work, None, None, threading.Event())
        self._queue.put(job)
        assert job.done is not None
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
        self._conn.close()
        os.close(self._lock_fd)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self._queue.put(None)  # finish this group, then stop
                    break
                group.append(job)
            self._apply(group)

    def _apply(self, group: list[_Job]) -> None:
        conn = self._conn
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            conn.execute("BEGIN IMMEDIATE")
            if len(group) == 1:
                _run_alone(conn, group[0])
            else:
                for job in group:
                    _run_in_savepoint(conn, job)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:  # the whole group failed to commit: nothing is durable
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in group:
                job.error, job.result = exc, None
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        if self._on_rollback is not None and any(job.error is not None for job in group):
            self._on_rollback()
        for job in group:
            _resolve(job)


def _run_in_savepoint(conn: sqlite3.Connection, job: _Job) -> None:
    conn.execute("SAVEPOINT job")
    try:
        job.result = job.work(conn)
    except Exception as exc:  # the job's own failure, reported to its caller
        conn.execute("ROLLBACK TO job")
        job.error = exc
    conn.execute("RELEASE job")


def _run_alone(conn: sqlite3.Connection, job: _Job) -> None:
    """A group of one needs no savepoint: on failure the whole transaction rolls back."""
    try:
        job.result = job.work(conn)
    except Exception as exc:  # the job's own failure, reported to its caller
        conn.execute("ROLLBACK")
        conn.execute("BEGIN IMMEDIATE")  # an empty transaction, for the COMMIT that follows
        job.error = exc


def _resolve(job: _Job) -> None:
    if job.done is not None:
        job.done.set()
        return
    assert job.future is not None and job.loop is not None
    future = job.future
    if job.error is not None:
        job.loop.call_soon_threadsafe(_set_exception, future, job.error)
    else:
        job.loop.call_soon_threadsafe(_set_result, future, job.result)


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
