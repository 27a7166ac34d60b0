"""WAL checkpoints off the write path.

SQLite's automatic checkpoint runs inside the COMMIT that fills the WAL past 1,000 pages:
it copies those pages into the database file and fsyncs it, while the committing writer
holds the write lock, which (writer.py) is now on the event loop. Instead a thread with a
connection of its own copies the WAL in the background after commits (a PASSIVE
checkpoint takes no lock that writers wait for). Writers keep appending meanwhile, so the
copy never catches up with the end of the WAL and the WAL would grow without bound: once
it holds RESTART_FRAMES pages, the writer finishes the copy while it holds the write lock,
which is quick since most is copied already; its next transaction then starts the WAL over
from the beginning.
"""

from __future__ import annotations

import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fhir_server.storage.sqlite.connection import open_connection

__all__ = ["RESTART_FRAMES", "Checkpointer"]

# WAL pages (4 KiB each) past which the writer finishes a checkpoint under its lock.
RESTART_FRAMES = 4_000

_log = logging.getLogger(__name__)


class Checkpointer:
    """The background checkpoints of one database."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"sqlite-checkpoint-{path.stem}")
        self._conn: sqlite3.Connection | None = None
        self._copying = False
        # Pages in the WAL when it was last checkpointed (written by the checkpoint thread,
        # read by the writer: a stale value costs one needless or one late `finish`).
        self._frames = 0

    @staticmethod
    def prepare(writer_conn: sqlite3.Connection) -> None:
        """The writer's commits no longer checkpoint by themselves."""
        writer_conn.execute("PRAGMA wal_autocheckpoint = 0")

    def copy_soon(self) -> None:
        """After a commit: copy the WAL into the database in the background, unless a copy
        is under way (it is then copying this commit's pages too, or the next one will)."""
        if self._copying:
            return
        self._copying = True
        self._thread.submit(self._copy)

    def due(self) -> bool:
        """Whether the WAL is long enough for the writer to `finish` under its lock."""
        return self._frames >= RESTART_FRAMES

    def finish(self, writer_conn: sqlite3.Connection) -> None:
        """Under the write lock, outside a transaction: copy what is left, so that the next
        write starts the WAL over (unless a reader still holds an older snapshot)."""
        _, frames, copied = writer_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self._frames = frames - copied

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        if self._conn is not None:
            self._conn.close()

    def _copy(self) -> None:
        try:
            if self._conn is None:
                self._conn = open_connection(self._path)
            _, frames, _ = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self._frames = frames
        except sqlite3.Error as exc:  # the next commit tries again; the WAL keeps the data
            _log.warning("background checkpoint of %s failed: %s", self._path.name, exc)
        finally:
            self._copying = False
