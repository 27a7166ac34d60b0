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
the writing alone. A group on the loop is kept cheap (INLINE_COST, a few milliseconds of
writing); a costlier job, and the group it starts, runs on the writer's own thread, and
the loop serves other requests meanwhile.

Several server processes may write to one database. SQLite makes a writer that finds the
database locked sleep and poll (up to 100 ms a nap), which under load turns into seconds
of latency; so writers first take an exclusive `flock` on a lock file beside the database,
which the kernel hands to the next waiter the moment it is released. The loop only tries
it: while another process holds it, a thread waits until it is free and the loop tries
again (the lock is never held for a loop busy elsewhere, which would stop every other
process's writes meanwhile); after a few tries the writer's thread takes the group, waits
for the lock and writes it. Nor does the loop ever sleep in SQLite's busy handler: a
connection writing without the flock (an operator's shell) sends the group to the
writer's thread, which waits for it there.

Ownership (the connection, and the flock) is handed back by whoever ends the work: the
loop after a group it wrote, the writer's thread after one it wrote, so that a lock never
waits for an event loop that may not run again.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhir_server.storage.sqlite.connection import BUSY_TIMEOUT_MS

__all__ = ["INLINE_COST", "INLINE_JOBS", "MAX_GROUP", "GroupCommitWriter", "WriterClosed"]

# The most a group written on the event loop may cost: a job's cost is about the rows it
# writes or deletes (its callers' estimate, write_costs.py), and 1,200 is ~20 creates of a
# 2.5 KiB Patient, ~10 ms of writing here. A job costlier on its own starts a group on the
# writer's thread.
INLINE_COST = 1_200
# The most jobs a group on the event loop takes, whatever their estimates.
INLINE_JOBS = 64
# Times the loop tries for the lock, the waiter thread waiting between tries, before the
# group goes to the writer's thread (which waits for it): under contention the loop mostly
# gets it, and a group never waits there for long.
_LOOP_ATTEMPTS = 3
# Most jobs a group on the writer's thread takes: bounds the latency a large group adds to
# the first of its jobs.
MAX_GROUP = 256
# Turns of the event loop before each group: requests whose bytes arrived while the last
# group was written are read, validated and queued meanwhile, and join this group instead
# of waiting for the next (a commit costs about as much CPU for one create as for ten).
# With one turn, groups of 4-8 Patient creates under `bench/rest_core.py`; with three,
# 8-20, and 14-17 % more creates per second for 12 % less CPU each. That was with workers
# sharing uvicorn's socket, where one held most connections; with a socket each
# (web/workers.py) 1, 3 and 6 turns measure alike, so this matters where connections are
# uneven. A lone write waits a few microseconds more. (Between groups the turns also let
# another process's writer, woken by the lock given back, take it before this loop tries
# again.)
_GATHERING_TURNS = 3

Work = Callable[[sqlite3.Connection], Any]

_log = logging.getLogger(__name__)


class WriterClosed(RuntimeError):
    """A write submitted after its store was closed."""


@dataclass(slots=True)
class _Job:
    work: Work
    cost: int
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
        path: Path,
        on_rollback: Callable[[], None] | None = None,
    ) -> None:
        """`conn` is the writer's connection to the database at `path`. `on_rollback` runs
        after any job of a group was rolled back (its own failure, or the group's):
        callers that remember what they wrote forget it there."""
        self._conn = conn
        conn.execute("PRAGMA busy_timeout = 0")  # waiting is `_begin`'s, off the loop
        self._on_rollback = on_rollback
        self._lock_fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        # Whoever holds `_owner` may use the connection: a loop's drain task, the writer's
        # thread, or a blocking caller. Held with the flock: taken before, released after.
        self._owner = threading.Lock()
        # One thread waits for the flock while another process holds it, one writes costly
        # groups: apart, so that a group never queues behind a wait for its own lock.
        self._waiter = ThreadPoolExecutor(1, thread_name_prefix=f"sqlite-lock-{path.stem}")
        self._worker = ThreadPoolExecutor(1, thread_name_prefix=f"sqlite-writer-{path.stem}")
        self._queues: dict[asyncio.AbstractEventLoop, _Queue] = {}
        self._closing = False  # new writes refused
        self._closed = False  # the connection and the lock file closed

    async def submit(self, work: Work, *, cost: int = 1) -> Any:
        """Run `work(conn)` inside a group transaction; resolves once it is durable.
        `cost` estimates the rows the work writes or deletes (see INLINE_COST)."""
        _refuse_if(self._closing)
        loop = asyncio.get_running_loop()
        job = _Job(work, max(cost, 1), loop.create_future())
        queue = self._queues.get(loop)
        if queue is None or queue.drain is None or queue.drain.done():
            queue = self._queues[loop] = _Queue()
            queue.drain = loop.create_task(self._drain(loop, queue))
            queue.drain.add_done_callback(lambda _: self._drained(loop, queue))
        queue.jobs.append(job)
        assert job.future is not None
        return await job.future

    def submit_blocking(self, work: Work) -> Any:
        """The same, for callers outside an event loop (CLI, maintenance, opening)."""
        _refuse_if(self._closing)
        job = _Job(work, INLINE_COST + 1)
        self._write_owned([job])
        if job.error is not None:
            raise job.error
        return job.result

    async def aclose(self) -> None:
        """Close once the writes this loop has queued are durable."""
        self._closing = True
        queue = self._queues.get(asyncio.get_running_loop())
        if queue is not None and queue.drain is not None:
            await asyncio.wait({queue.drain})
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closing = True
        self._worker.shutdown(wait=True)
        self._waiter.shutdown(wait=True)
        if not self._owner.acquire(timeout=10):
            # A drain task of a loop that is not running owns it: left open, not closed
            # under it (its descriptor number could be reused by another file).
            _log.warning("closing a SQLite writer that still writes; left open")
            return
        try:
            self._closed = True
            self._conn.close()
            os.close(self._lock_fd)
        finally:
            self._owner.release()

    async def _drain(self, loop: asyncio.AbstractEventLoop, queue: _Queue) -> None:
        group: list[_Job] = []
        try:
            while queue.jobs:
                for _ in range(_GATHERING_TURNS):
                    await asyncio.sleep(0)
                group = _next_group(queue.jobs)
                if not (_cost(group) <= INLINE_COST and await self._write_on_loop(loop, group)):
                    written = _submit_to(self._worker, self._write_owned, group)
                    # Shielded: cancelled, the thread still finishes and hands back the lock.
                    await asyncio.shield(asyncio.wrap_future(written, loop=loop))
                for job in group:
                    _resolve(job)
                group = []
        except asyncio.CancelledError:  # the loop is closing: nobody waits for these
            for job in group + queue.jobs:
                if job.future is not None:
                    job.future.cancel()
            raise
        except Exception as exc:  # closed meanwhile, or a bug: every waiting caller hears
            if not isinstance(exc, WriterClosed):
                _log.exception("SQLite writer failed")
            for job in group + queue.jobs:
                job.error = job.error or exc
                _resolve(job)
        finally:
            if self._queues.get(loop) is queue:
                del self._queues[loop]

    def _drained(self, loop: asyncio.AbstractEventLoop, queue: _Queue) -> None:
        """The drain task ended, even cancelled before its first step (its `finally` never
        ran): a later write of this loop starts a new one; what this one left is cancelled."""
        if self._queues.get(loop) is queue:
            del self._queues[loop]
        for job in queue.jobs:
            if job.future is not None:
                job.future.cancel()

    async def _write_on_loop(self, loop: asyncio.AbstractEventLoop, group: list[_Job]) -> bool:
        """Write the group here if the lock can be had without waiting, now or, after the
        waiter thread saw it free, a moment later; False (nothing done) otherwise. The loop
        never holds the lock while it waits: a lock taken for a busy loop (validating a
        large Bundle) would stop every other process's writes for as long."""
        for attempt in range(_LOOP_ATTEMPTS):
            if attempt:
                await asyncio.wrap_future(_submit_to(self._waiter, self._wait_until_free))
            if self._try_own():
                try:
                    written = self._apply(group, wait=False)
                finally:
                    self._disown()
                return written
        return False

    def _write_owned(self, group: list[_Job]) -> None:
        """On the writer's thread: wait for the lock, write the group, hand the lock back."""
        self._own_blocking()
        try:
            self._apply(group, wait=True)
        finally:
            self._disown()

    def _try_own(self) -> bool:
        if not self._owner.acquire(blocking=False):
            return False
        try:
            _refuse_if(self._closed)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:  # another process writes
            self._owner.release()
            return False
        except BaseException:
            self._abandon()
            raise

    def _wait_until_free(self) -> None:
        """On the waiter thread: return once the lock was free (taken and given back at
        once). `_owner` is held throughout: a flock on the same descriptor by another thread
        of this process would succeed at once, and giving it back would free theirs."""
        with self._owner:
            _refuse_if(self._closed)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _own_blocking(self) -> None:
        self._owner.acquire()
        try:
            _refuse_if(self._closed)  # its descriptor is closed, and its number reusable
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        except BaseException:
            self._abandon()
            raise

    def _abandon(self) -> None:
        """Give back after an exception while taking the lock. A signal handler's exception
        (Ctrl-C) can arrive just after `flock` succeeded, so it is unlocked anyway: `_owner`
        is held, so no other thread of this process holds it, and unlocking what was not
        taken does nothing."""
        try:
            if not self._closed:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        finally:
            self._owner.release()

    def _disown(self) -> None:
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        finally:
            self._owner.release()

    def _apply(self, group: list[_Job], *, wait: bool) -> bool:
        """One transaction for the group; the caller owns the connection. False, with
        nothing done, if another connection holds SQLite's lock and `wait` is False."""
        conn = self._conn
        if not _begin(conn, wait=wait):
            return False
        try:
            if len(group) == 1:
                _run_alone(conn, group[0])
            else:
                for job in group:
                    _run_in_savepoint(conn, job)
            if conn.in_transaction:
                conn.execute("COMMIT")
        except Exception as exc:  # the whole group failed to commit: nothing is durable
            _roll_back(conn)
            for job in group:
                job.error, job.result = exc, None
        except BaseException:
            _roll_back(conn)
            self._rolled_back()
            raise
        if any(job.error is not None for job in group):
            self._rolled_back()
        return True

    def _rolled_back(self) -> None:
        if self._on_rollback is None:
            return
        try:
            self._on_rollback()
        except Exception:  # the group's outcome stands; only a cache may be stale
            _log.exception("after a rollback")


def _refuse_if(closed: bool) -> None:
    if closed:
        raise WriterClosed("the store is closed")


def _next_group(jobs: list[_Job]) -> list[_Job]:
    """The waiting jobs one group takes, in order: as many as INLINE_COST allows, or, if
    the first job alone costs more, up to MAX_GROUP (the group goes to the thread)."""
    if jobs[0].cost > INLINE_COST:
        taken = min(len(jobs), MAX_GROUP)
    else:
        taken, total = 0, 0
        limit = min(len(jobs), INLINE_JOBS)
        while taken < limit and total + jobs[taken].cost <= INLINE_COST:
            total += jobs[taken].cost
            taken += 1
    group = jobs[:taken]
    del jobs[:taken]
    return group


def _cost(group: list[_Job]) -> int:
    return sum(job.cost for job in group)


def _begin(conn: sqlite3.Connection, *, wait: bool) -> bool:
    """BEGIN IMMEDIATE. Busy (a connection writing without the flock): False at once, or,
    with `wait`, as long as SQLite's busy handler would wait."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        return True
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:  # any BUSY_* extended code
            raise
        if not wait:
            return False
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    try:
        conn.execute("BEGIN IMMEDIATE")
    finally:
        conn.execute("PRAGMA busy_timeout = 0")
    return True


def _run_in_savepoint(conn: sqlite3.Connection, job: _Job) -> None:
    conn.execute("SAVEPOINT job")
    try:
        job.result = job.work(conn)
    except Exception as exc:  # the job's own failure, reported to its caller
        if not conn.in_transaction:
            raise  # SQLite rolled back the whole transaction (disk full): the group fails
        conn.execute("ROLLBACK TO job")
        job.error = exc
    conn.execute("RELEASE job")


def _run_alone(conn: sqlite3.Connection, job: _Job) -> None:
    """A group of one needs no savepoint: on failure the whole transaction rolls back."""
    try:
        job.result = job.work(conn)
    except Exception as exc:  # the job's own failure, reported to its caller
        _roll_back(conn)
        job.error = exc


def _roll_back(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _submit_to(executor: ThreadPoolExecutor, fn: Callable[..., None], *args: Any) -> Future[None]:
    """`executor.submit`, with a shut-down executor (the writer closed meanwhile) reported
    as WriterClosed."""
    try:
        return executor.submit(fn, *args)
    except RuntimeError as exc:
        raise WriterClosed("the store is closed") from exc


def _resolve(job: _Job) -> None:
    future = job.future
    if future is None or future.done():  # a blocking job, or its caller went away
        return
    if isinstance(job.error, StopIteration):  # a future refuses it: wrapped
        future.set_exception(RuntimeError(f"write job raised {job.error!r}"))
    elif job.error is not None:
        future.set_exception(job.error)
    else:
        future.set_result(job.result)
