"""The SQLite group-commit writer: groups on the event loop, waits for the lock off it, and
writers of several processes take turns without losing a write."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qsl

import orjson
import pytest

from fhir_server.search.indexer import Indexer
from fhir_server.search.plan import Cursor, SearchPlan
from fhir_server.search.query import QueryOptions, parse_search
from fhir_server.search.registry import default_registry
from fhir_server.storage.contracts import WriteOp
from fhir_server.storage.sqlite.connection import open_connection
from fhir_server.storage.sqlite.index_rows import prepare_index
from fhir_server.storage.sqlite.resources import SqliteResourceStore
from fhir_server.storage.sqlite.write_costs import commit_cost
from fhir_server.storage.sqlite.writer import INLINE_COST, GroupCommitWriter, WriterClosed

SCHEMA = """
CREATE TABLE IF NOT EXISTS counter (n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS writes (who TEXT NOT NULL, seen INTEGER NOT NULL);
"""


def _increment(who: str) -> object:
    """A read-modify-write: two writers interleaving inside one would lose an increment."""

    def work(conn: sqlite3.Connection) -> int:
        (n,) = conn.execute("SELECT n FROM counter").fetchone()
        conn.execute("UPDATE counter SET n = ?", (n + 1,))
        conn.execute("INSERT INTO writes VALUES (?, ?)", (who, n))
        return int(n)

    return work


def _fail(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO writes VALUES ('doomed', -1)")
    raise ValueError("refused")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "writer.sqlite"
    conn = open_connection(path, schema=SCHEMA)
    conn.execute("INSERT INTO counter VALUES (0)")
    conn.close()
    return path


@pytest.fixture
def writer(db: Path) -> Iterator[GroupCommitWriter]:
    opened = GroupCommitWriter(open_connection(db, writer=True), db)
    yield opened
    opened.close()


def _rows(db: Path) -> list[tuple[str, int]]:
    conn = sqlite3.connect(db)
    try:
        return [(str(w), int(s)) for w, s in conn.execute("SELECT who, seen FROM writes")]
    finally:
        conn.close()


async def _ticks_during(coro: object, *, interval: float = 0.01) -> tuple[object, int]:
    """Run `coro`, counting how often the loop woke a sleeper meanwhile."""
    ticks = 0
    task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
    while not task.done():
        await asyncio.sleep(interval)
        ticks += 1
    return await task, ticks


async def test_concurrent_jobs_all_commit_and_each_sees_the_last(
    writer: GroupCommitWriter, db: Path
) -> None:
    seen = await asyncio.gather(*(writer.submit(_increment("a")) for _ in range(100)))
    assert sorted(seen) == list(range(100))  # type: ignore[type-var]
    assert len(_rows(db)) == 100


async def test_a_failing_job_rolls_back_alone(writer: GroupCommitWriter, db: Path) -> None:
    jobs = [writer.submit(_increment("a")), writer.submit(_fail), writer.submit(_increment("a"))]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert isinstance(results[1], ValueError)
    assert sorted(who for who, _ in _rows(db)) == ["a", "a"]


async def test_the_loop_serves_others_while_another_process_holds_the_lock(
    writer: GroupCommitWriter, db: Path
) -> None:
    # Another process's writer: its own open file description of the lock file.
    other = os.open(f"{db}.lock", os.O_RDWR)
    fcntl.flock(other, fcntl.LOCK_EX)
    threading.Timer(0.3, fcntl.flock, (other, fcntl.LOCK_UN)).start()
    try:
        seen, ticks = await _ticks_during(writer.submit(_increment("a")))
    finally:
        time.sleep(0.01)
        os.close(other)
    assert seen == 0
    assert ticks >= 10  # ~30 possible: the loop was never stopped for the wait


async def test_heavy_work_runs_off_the_loop(writer: GroupCommitWriter, db: Path) -> None:
    def slow(conn: sqlite3.Connection) -> str:
        time.sleep(0.3)
        conn.execute("INSERT INTO writes VALUES ('slow', 0)")
        return "done"

    result, ticks = await _ticks_during(writer.submit(slow, cost=INLINE_COST + 1))
    assert result == "done"
    assert ticks >= 10
    assert _rows(db) == [("slow", 0)]


async def test_blocking_callers_and_the_loop_take_turns(
    writer: GroupCommitWriter, db: Path
) -> None:
    def from_thread() -> None:
        for _ in range(200):
            writer.submit_blocking(_increment("thread"))  # type: ignore[arg-type]

    from_thread_done = asyncio.ensure_future(asyncio.to_thread(from_thread))
    for _ in range(20):
        await asyncio.gather(*(writer.submit(_increment("loop")) for _ in range(10)))
    await from_thread_done  # raises what a blocking caller met
    seen = sorted(s for _, s in _rows(db))
    assert seen == list(range(400))  # no increment lost, none seen twice


async def test_a_caller_that_goes_away_leaves_the_others_unharmed(
    writer: GroupCommitWriter, db: Path
) -> None:
    first = asyncio.ensure_future(writer.submit(_increment("a")))
    gone = asyncio.ensure_future(writer.submit(_increment("gone")))
    last = asyncio.ensure_future(writer.submit(_increment("a")))
    gone.cancel()
    assert sorted([await first, await last]) in ([0, 1], [0, 2])
    assert "a" in {who for who, _ in _rows(db)}


_OTHER_PROCESS = """
import asyncio, sqlite3, sys
from pathlib import Path
from fhir_server.storage.contracts import WriteOp
from fhir_server.storage.sqlite.connection import open_connection
from fhir_server.storage.sqlite.index_rows import prepare_index
from fhir_server.storage.sqlite.resources import SqliteResourceStore
from fhir_server.storage.sqlite.write_costs import commit_cost
from fhir_server.storage.sqlite.writer import INLINE_COST, GroupCommitWriter, WriterClosed

def increment(conn):
    (n,) = conn.execute("SELECT n FROM counter").fetchone()
    conn.execute("UPDATE counter SET n = ?", (n + 1,))
    conn.execute("INSERT INTO writes VALUES ('child', ?)", (n,))

async def main(db):
    writer = GroupCommitWriter(open_connection(db, writer=True), db)
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(20):
        await asyncio.gather(*(writer.submit(increment) for _ in range(20)))
    writer.close()

asyncio.run(main(Path(sys.argv[1])))
"""


async def test_writers_of_two_processes_never_interleave(
    writer: GroupCommitWriter, db: Path
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _OTHER_PROCESS, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline().strip() == "ready"
    child.stdin.write("go\n")
    child.stdin.flush()
    for _ in range(20):
        await asyncio.gather(*(writer.submit(_increment("parent")) for _ in range(20)))
    assert await asyncio.to_thread(child.wait, 60) == 0
    rows = _rows(db)
    assert sorted(s for _, s in rows) == list(range(800))  # every increment saw the last
    assert {who for who, _ in rows} == {"parent", "child"}


async def test_writes_queued_a_few_loop_turns_apart_share_one_commit(
    writer: GroupCommitWriter, db: Path
) -> None:
    # Requests reach the writer a turn or two of the loop apart (read, then validated):
    # waiting those turns makes one commit of what would have been three.
    outside = sqlite3.connect(db, check_same_thread=False)

    def note_committed(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO writes VALUES ('w', 0)")
        # what another connection sees: the writes committed before this job's group
        return int(outside.execute("SELECT count(*) FROM writes").fetchone()[0])

    async def arrive(turns: int) -> int:
        for _ in range(turns):
            await asyncio.sleep(0)
        return int(await writer.submit(note_committed))

    try:
        committed_before = await asyncio.gather(*(arrive(n % 3) for n in range(9)))
    finally:
        outside.close()
    assert committed_before == [0] * 9
    assert len(_rows(db)) == 9


async def test_groups_on_the_loop_stay_within_their_cost(writer: GroupCommitWriter) -> None:
    # Ten jobs each just under the limit on their own: written two at a time, the loop is
    # never stopped for much more than two of them (all ten in one group would be 200 ms).
    def slowish(conn: sqlite3.Connection) -> None:
        time.sleep(0.02)
        conn.execute("INSERT INTO writes VALUES ('slowish', 0)")

    jobs = [writer.submit(slowish, cost=INLINE_COST // 2) for _ in range(10)]
    loop = asyncio.get_running_loop()
    longest, last = 0.0, loop.time()

    async def watch() -> None:
        nonlocal longest, last
        while True:
            await asyncio.sleep(0)
            longest, last = max(longest, loop.time() - last), loop.time()

    watcher = asyncio.ensure_future(watch())
    await asyncio.gather(*jobs)
    watcher.cancel()
    assert 0.035 < longest < 0.1


async def test_a_connection_writing_without_the_lock_does_not_stop_the_loop(
    writer: GroupCommitWriter, db: Path
) -> None:
    # An operator's sqlite3 shell holds SQLite's own write lock for 0.3 s.
    shell = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    shell.execute("BEGIN IMMEDIATE")
    threading.Timer(0.3, shell.execute, ("COMMIT",)).start()
    try:
        seen, ticks = await _ticks_during(writer.submit(_increment("a")))
    finally:
        time.sleep(0.01)
        shell.close()
    assert seen == 0
    assert ticks >= 10


async def test_a_failing_lock_is_reported_and_not_kept(
    writer: GroupCommitWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_flock = fcntl.flock
    failures = [OSError(37, "No locks available")]  # ENOLCK, as a network filesystem may

    def flaky_flock(fd: int, operation: int) -> None:
        if operation & fcntl.LOCK_EX and failures:
            raise failures.pop()
        real_flock(fd, operation)

    monkeypatch.setattr("fhir_server.storage.sqlite.writer.fcntl.flock", flaky_flock)
    with pytest.raises(OSError, match="No locks available"):
        await writer.submit(_increment("a"))
    assert await asyncio.wait_for(writer.submit(_increment("a")), 5) == 0


async def test_closing_writes_what_was_queued_and_refuses_more(db: Path) -> None:
    writer = GroupCommitWriter(open_connection(db, writer=True), db)
    queued = [asyncio.ensure_future(writer.submit(_increment("a"))) for _ in range(50)]
    await asyncio.sleep(0)
    await writer.aclose()
    assert sorted([task.result() for task in queued]) == list(range(50))  # type: ignore[type-var]
    assert len(_rows(db)) == 50
    with pytest.raises(WriterClosed):
        await writer.submit(_increment("late"))


async def test_a_full_database_fails_the_group_with_its_own_error(
    writer: GroupCommitWriter, db: Path
) -> None:
    # SQLite rolls the whole transaction back when the database is full: every job of the
    # group fails, with that error rather than a missing savepoint's.
    conn = writer._conn  # the writer's own connection: its page limit
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    big = os.urandom(64 * 1024)

    def fill(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO writes VALUES (?, 0)", (big,))

    results = await asyncio.gather(
        writer.submit(_increment("a")), writer.submit(fill), return_exceptions=True
    )
    assert all(isinstance(r, sqlite3.Error) and "full" in str(r) for r in results), results
    assert _rows(db) == []


async def test_a_drain_cancelled_before_it_began_does_not_stop_later_writes(
    writer: GroupCommitWriter,
) -> None:
    first = asyncio.ensure_future(writer.submit(_increment("a")))
    await asyncio.sleep(0)  # queued; its drain task is created but has not run
    drain = next(iter(writer._queues.values())).drain
    assert drain is not None
    drain.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(writer.submit(_increment("a")), 5) == 0


async def test_a_job_raising_stop_iteration_fails_alone(writer: GroupCommitWriter) -> None:
    def odd(conn: sqlite3.Connection) -> None:
        raise StopIteration  # a future cannot carry it

    results = await asyncio.gather(
        writer.submit(_increment("a")),
        writer.submit(odd),
        writer.submit(_increment("a")),
        return_exceptions=True,
    )
    assert results[0] == 0 and results[2] == 1
    assert isinstance(results[1], RuntimeError)


def test_closing_twice_is_harmless(db: Path) -> None:
    writer = GroupCommitWriter(open_connection(db, writer=True), db)
    writer.close()
    writer.close()  # would close the lock file's descriptor number again


async def test_many_small_deletes_are_written_off_the_loop(tmp_path: Path) -> None:
    # Each delete runs a statement per index table whatever the resource's size: a
    # transaction of hundreds is too long for the loop, one create of a Patient is not.
    store = SqliteResourceStore(tmp_path / "costs.sqlite")
    try:
        created = [WriteOp("Basic", f"b{n}", 0, 1, 1_000, "PUT", b"{}") for n in range(300)]
        store.commit_blocking(created)
        deletes = [WriteOp("Basic", f"b{n}", 1, 2, 2_000, "DELETE", None) for n in range(300)]
        conn = store._conn()
        no_rows = [prepare_index("Basic", ())] * 300
        assert commit_cost(conn, deletes, no_rows) > INLINE_COST
        patient = (Path(__file__).parents[2] / "bench" / "patient_2kb.json").read_bytes()
        create = [WriteOp("Patient", "p", 0, 1, 1_000, "POST", patient)]
        assert commit_cost(conn, create, [prepare_index("Patient", ())]) < INLINE_COST // 10
    finally:
        store.close()


def _plan(query: str) -> SearchPlan:
    options = QueryOptions(2, 2, strict=True, base_url="http://testserver/fhir/acme")
    return parse_search("Patient", parse_qsl(query), default_registry(), options)


async def test_conditional_creates_the_counts_answer_are_written_on_the_loop(
    tmp_path: Path,
) -> None:
    # `identifier=system|value` is refused or not by one row of the kept token counts:
    # as cheap as a create. Any other criteria search under the lock, which may scan.
    store = SqliteResourceStore(tmp_path / "conditional.sqlite")
    try:
        conn = store._conn()
        no_rows = [prepare_index("Patient", ())]

        def cost(query: str, *also: WriteOp) -> int:
            plan = _plan(query)
            create = WriteOp("Patient", "p", 0, 1, 1_000, "POST", b"{}", unless_matched=plan)
            return commit_cost(conn, [create, *also], no_rows * (1 + len(also)))

        assert cost("identifier=urn:oid:1.2.3|42") < INLINE_COST // 10
        assert cost("identifier=42") > INLINE_COST  # any system: not what the counts keep
        assert cost("name=Chalmers") > INLINE_COST
        assert cost("identifier=urn:oid:1.2.3|42&gender=male") > INLINE_COST
        # a batch that deletes: its matches may be its own deletions, which a count can't tell
        store.commit_blocking([WriteOp("Patient", "old", 0, 1, 1_000, "PUT", b"{}")])
        delete = WriteOp("Patient", "old", 1, 2, 2_000, "DELETE", None)
        assert cost("identifier=urn:oid:1.2.3|42", delete) > INLINE_COST
    finally:
        store.close()


async def test_a_search_the_counts_say_is_empty_is_answered_without_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteResourceStore(tmp_path / "counted.sqlite")
    try:
        body = b'{"resourceType":"Patient","identifier":[{"system":"urn:oid:1.2.3","value":"42"}]}'
        plan = _plan("identifier=urn:oid:1.2.3|42")
        entries = Indexer(default_registry()).index(orjson.loads(body))
        store.commit_blocking([WriteOp("Patient", "p1", 0, 1, 1_000, "PUT", body, entries)])
        other = _plan("identifier=urn:oid:1.2.3|43")

        def no_threads(*_: object, **__: object) -> object:
            raise AssertionError("searched on a thread")

        monkeypatch.setattr(asyncio, "to_thread", no_threads)
        empty = await store.search(other)
        assert (empty.matches, empty.total, empty.has_next) == ([], 0, False)
        assert (await store.search(replace(other, total="none"))).total is None
        with pytest.raises(AssertionError, match="on a thread"):
            await store.search(plan)  # it has a match: read as any search
        with pytest.raises(AssertionError, match="on a thread"):
            # a later page has a page before it, even with nothing after: read as any search
            await store.search(replace(other, cursor=Cursor(1, "after")))
        monkeypatch.undo()
        found = await store.search(plan)
        assert [m.id for m in found.matches] == ["p1"] and found.total == 1
    finally:
        store.close()


async def test_the_lock_is_not_kept_for_a_busy_loop(writer: GroupCommitWriter, db: Path) -> None:
    other = os.open(f"{db}.lock", os.O_RDWR)
    third = os.open(f"{db}.lock", os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        pending = asyncio.ensure_future(writer.submit(_increment("a")))
        await asyncio.sleep(0.05)  # this writer waits for the lock
        fcntl.flock(other, fcntl.LOCK_UN)
        time.sleep(0.1)  # while its loop is busy elsewhere (validating a large Bundle)...
        fcntl.flock(third, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ...another process can write
        fcntl.flock(third, fcntl.LOCK_UN)
        assert await asyncio.wait_for(pending, 5) == 0
    finally:
        os.close(other)
        os.close(third)


def test_an_interrupt_just_after_the_lock_was_taken_gives_it_back(
    writer: GroupCommitWriter, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C's KeyboardInterrupt runs once a blocking flock returns: the lock is taken.
    real_flock = fcntl.flock

    def interrupted_flock(fd: int, operation: int) -> None:
        real_flock(fd, operation)
        if operation == fcntl.LOCK_EX:
            raise KeyboardInterrupt

    monkeypatch.setattr("fhir_server.storage.sqlite.writer.fcntl.flock", interrupted_flock)
    with pytest.raises(KeyboardInterrupt):
        writer.submit_blocking(_increment("a"))  # type: ignore[arg-type]
    monkeypatch.undo()
    other = os.open(f"{db}.lock", os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another process can write
    finally:
        os.close(other)
    assert writer.submit_blocking(_increment("a")) == 0  # type: ignore[arg-type]
