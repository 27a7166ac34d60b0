"""Group commit: the writes of one database, many requests to a transaction.

Every request's writes wait in a queue; a drain task on the event loop takes those that are
waiting, applies each in its own SAVEPOINT inside one transaction, and commits once (one
fsync) for all of them. Under load this turns many small durable commits into a few larger
ones; alone, a job is committed at once. A job that fails (a lost compare-and-swap, a
constraint) is rolled back to its savepoint without disturbing the others in the group.

Groups run on the event loop itself, not on a thread of their own. A writer thread needs
the interpreter lock back after every SQLite statement, and under load it waited for it
behind the request handling on the loop while holding the database's write lock: the lock
was held about twice as long as the writing took. On the loop, the write lock is held for
the writing alone. A group on the loop is kept small (INLINE_GROUP jobs, a few
milliseconds); a job its caller marks `heavy` (many resources, a search under the lock)
runs on the writer's own thread, and the loop serves other requests meanwhile.

Several server processes may write to one database. SQLite makes a writer that finds the
database locked sleep and poll (up to 100 ms a nap), which under load turns into seconds
of latency; so writers first take an exclusive `flock` on a lock file beside the database,
which the kernel hands to the next waiter the moment it is released. The loop only tries
it: while another process holds it, the writer's thread waits for it.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

__all__ = ["INLINE_GROUP", "MAX_GROUP", "GroupCommitWriter"]

# Most jobs a group on the event loop takes: a few milliseconds of writing, the longest
# the loop stops serving other requests for a group.
INLINE_GROUP = 32
# Most jobs a group on the writer's thread takes: bounds the latency a large group adds to
# the first of its jobs.
MAX_GROUP = 256

Work = Callable[[sqlite3.Connection], Any]


@dataclass(slots=True)
class _Job:
    work: Work
    heavy: bool
    future: asyncio.Future[Any] | None = None
    result: Any = None
    error: BaseException | None = None


@dataclass(slots=True)
class _Queue:
    """The jobs of one event loop, and the task that drains them."""

    jobs: list[_Job] = field(default_factory=list)
    drain: asyncio.Task[None] | None = None


class GroupCommitWriter:
    """Runs write jobs on one connection, a group of them per transaction."""

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
        # Whoever holds `_owner` may use the connection: a loop's drain task or a blocking
        # caller. Held together with the flock, taken before it and released after it.
        self._owner = threading.Lock()
        # One thread waits for the flock while another process holds it, one runs heavy
        # groups: apart, so that a group never queues behind a wait for its own lock.
        self._waiter = ThreadPoolExecutor(1, thread_name_prefix=f"sqlite-lock-{name}")
        self._worker = ThreadPoolExecutor(1, thread_name_prefix=f"sqlite-writer-{name}")
        self._queues: dict[asyncio.AbstractEventLoop, _Queue] = {}

    async def submit(self, work: Work, *, heavy: bool = False) -> Any:
        """Run `work(conn)` inside a group transaction; resolves once it is durable.
        `heavy` work (long to run) is run on the writer's thread, not on the loop."""
        loop = asyncio.get_running_loop()
        job = _Job(work, heavy, loop.create_future())
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
            queue.drain = loop.create_task(self._drain(loop, queue))
        queue.jobs.append(job)
        assert job.future is not None
        return await job.future

    def submit_blocking(self, work: Work) -> Any:
        """The same, for callers outside an event loop (CLI, maintenance, opening)."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None and loop in self._queues:
            # Its drain task holds, or waits for, the connection and cannot go on while
            # this thread waits for it.
            raise RuntimeError("submit_blocking from an event loop that is writing")
        job = _Job(work, heavy=True)
        self._own_blocking()
        try:
            self._apply([job])
        finally:
            self._disown()
        if job.error is not None:
            raise job.error
        return job.result

    def close(self) -> None:
        self._worker.shutdown(wait=True)
        self._waiter.shutdown(wait=True)
        # A drain task that still owns the connection (its loop is stopping) is let be.
        owned = self._owner.acquire(timeout=10)
        try:
            self._conn.close()
            os.close(self._lock_fd)
        finally:
            if owned:
                self._owner.release()

    async def _drain(self, loop: asyncio.AbstractEventLoop, queue: _Queue) -> None:
        group: list[_Job] = []
        applied = False
        try:
            while queue.jobs:
                await self._own(loop)
                try:
                    group, applied = _next_group(queue.jobs), False
                    if any(job.heavy for job in group):
                        running = self._worker.submit(self._apply, group)
                        try:
                            await _finish_in(loop, running)
                        finally:  # cancelled, the wait lasted until the group was done
                            applied = running.done() and running.exception() is None
                    else:
                        self._apply(group)
                        applied = True
                finally:
                    self._disown()
                for job in group:
                    _resolve(job)
                group = []
                # Requests that arrived meanwhile are read, and a writer of another process
                # waiting for the lock is woken, before the next group.
                await asyncio.sleep(0)
        except BaseException as exc:  # cancelled (the loop is closing) or a bug
            for job in queue.jobs if applied else group + queue.jobs:
                job.error = exc
            for job in group + queue.jobs:
                _resolve(job)
            raise
        finally:
            del self._queues[loop]

    async def _own(self, loop: asyncio.AbstractEventLoop) -> None:
        """Take the connection and the database's write lock, waiting off the loop."""
        if self._owner.acquire(blocking=False):
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:  # another process writes
                self._owner.release()
        waited = self._waiter.submit(self._own_blocking)
        try:
            await asyncio.wrap_future(waited, loop=loop)
        except asyncio.CancelledError:
            # The thread goes on waiting; what it takes is given back.
            waited.add_done_callback(self._disown_once_taken)
            raise

    def _disown_once_taken(self, waited: Future[None]) -> None:
        if waited.exception() is None:
            self._disown()

    def _own_blocking(self) -> None:
        self._owner.acquire()
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        except BaseException:
            self._owner.release()
            raise

    def _disown(self) -> None:
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        self._owner.release()

    def _apply(self, group: list[_Job]) -> None:
        """One transaction for the group; the caller owns the connection."""
        conn = self._conn
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
        if self._on_rollback is not None and any(job.error is not None for job in group):
            self._on_rollback()


def _next_group(jobs: list[_Job]) -> list[_Job]:
    """The longest run of waiting jobs one group takes, in order."""
    limit = MAX_GROUP if any(job.heavy for job in jobs[:INLINE_GROUP]) else INLINE_GROUP
    group = jobs[:limit]
    del jobs[:limit]
    return group


async def _finish_in(loop: asyncio.AbstractEventLoop, running: Future[None]) -> None:
    """Wait for a group on the writer's thread. Cancelled, the wait still lasts until the
    group is done: the connection and the lock are given back only then."""
    try:
        await asyncio.wrap_future(running, loop=loop)
    except asyncio.CancelledError:
        running.exception()  # blocks until the thread is done with the group
        raise


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
    future = job.future
    if future is None or future.done():  # a blocking job, or its caller went away
        return
    if isinstance(job.error, asyncio.CancelledError):
        future.cancel()
    elif job.error is not None:
        future.set_exception(job.error)
    else:
        future.set_result(job.result)
