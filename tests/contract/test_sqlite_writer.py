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
from pathlib import Path

import pytest

from fhir_server.storage.sqlite.connection import open_connection
from fhir_server.storage.sqlite.writer import GroupCommitWriter

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
    opened = GroupCommitWriter(open_connection(db, writer=True), "t", f"{db}.lock")
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

    result, ticks = await _ticks_during(writer.submit(slow, heavy=True))
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


async def test_blocking_submit_from_a_writing_loop_is_refused(writer: GroupCommitWriter) -> None:
    pending = asyncio.ensure_future(writer.submit(_increment("a")))
    await asyncio.sleep(0)  # the drain task has started
    with pytest.raises(RuntimeError, match="event loop that is writing"):
        writer.submit_blocking(_increment("b"))  # type: ignore[arg-type]
    assert await pending == 0


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
from fhir_server.storage.sqlite.connection import open_connection
from fhir_server.storage.sqlite.writer import GroupCommitWriter

def increment(conn):
    (n,) = conn.execute("SELECT n FROM counter").fetchone()
    conn.execute("UPDATE counter SET n = ?", (n + 1,))
    conn.execute("INSERT INTO writes VALUES ('child', ?)", (n,))

async def main(db):
    writer = GroupCommitWriter(open_connection(db, writer=True), "child", f"{db}.lock")
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
