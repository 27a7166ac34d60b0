"""Opening SQLite connections with the settings every connection needs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["open_connection"]

# A writer waits this long for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 10_000


# Address space, not memory: the kernel pages the mapped file in and out as it likes.
MMAP_BYTES = 1 << 30


def open_connection(
    path: Path, *, schema: str | None = None, writer: bool = False
) -> sqlite3.Connection:
    """A connection in WAL mode with durable commits (synchronous=FULL).

    `isolation_level=None` leaves transaction control to us (explicit BEGIN/COMMIT), so a
    commit is exactly where the code says, and fsync'd before the response is sent.
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA cache_size = -65536")  # 64 MiB page cache per connection
    if writer:
        # The writes of a group run in SAVEPOINTs, whose undo journal SQLite spills to a
        # temp file past 64 KiB (one create dirties ~100 KiB of pages): kept in memory, a
        # write costs 30 % less. (Readers keep temp files: a large search's temporary
        # b-trees may spill to disk rather than fill memory.)
        conn.execute("PRAGMA temp_store = MEMORY")
    # Pages of the database file read through a memory map instead of copied: cheaper
    # reads, and a cheaper page cache refill after another process's write (SQLite drops a
    # connection's cache whenever the database changed under it).
    conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    if schema is not None:
        conn.executescript(schema)
    return conn
