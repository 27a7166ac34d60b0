"""What a write will cost the writer, estimated before it is queued: about the rows it
writes and deletes. The writer keeps the groups it writes on the event loop under
`writer.INLINE_COST` and sends costlier ones to its thread."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from fhir_server.storage.conditional_creates import deleted_by
from fhir_server.storage.contracts import WriteOp
from fhir_server.storage.sqlite.index_rows import PreparedIndex
from fhir_server.storage.sqlite.schema import INDEX_TABLES
from fhir_server.storage.sqlite.token_counts import countable
from fhir_server.storage.sqlite.writer import INLINE_COST

__all__ = ["commit_cost", "reindex_cost"]

# Index rows per KiB of a stored body, about: a Patient has ~45 in 2.5 KiB, a Group one per
# ~50-byte member. What deleting the rows of a replaced body costs, without reading them.
_ROWS_PER_KIB = 20
# A body is written twice (current and history): a KiB costs about as much as 3 rows.
_BODY_KIB = 3
# Replacing a version, whatever its size: a DELETE per index table, the history's update.
_REPLACE_BASE = 3 + len(INDEX_TABLES)
# A conditional create searches under the lock, and a search may scan: never on the loop,
# unless the kept token counts answer it (one row read).
_UNBOUNDED = INLINE_COST + 1


def commit_cost(
    conn: sqlite3.Connection, ops: Sequence[WriteOp], indexes: Sequence[PreparedIndex]
) -> int:
    """The cost of `apply_ops(ops, indexes)`, counted until it passes INLINE_COST (the
    writer needs no more); `conn` reads the sizes of the bodies the ops replace."""
    cost = _checks_cost(ops)
    for op, index in zip(ops, indexes, strict=True):
        cost += 1 + _rows([index]) + _BODY_KIB * _kib(len(op.body or b""))
        if op.expected_version or op.in_place:  # an update, a delete: it replaces a body
            cost += _REPLACE_BASE + (_ROWS_PER_KIB + 1) * _kib(_replaced_bytes(conn, op))
        if cost > INLINE_COST:
            break
    return cost


def _checks_cost(ops: Sequence[WriteOp]) -> int:
    """What refusing the batch's conditional creates costs (write_jobs._refuse_matched):
    a row read each when the counts answer them, else a search each."""
    plans = [op.unless_matched for op in ops if op.unless_matched is not None]
    if not plans:
        return 0
    if deleted_by(ops) or not all(countable(plan) for plan in plans):
        return _UNBOUNDED
    return len(plans)


def reindex_cost(prepared: PreparedIndex) -> int:
    """Replacing one resource's index rows: the old ones, about as many, go first."""
    return _REPLACE_BASE + 2 * _rows([prepared])


def _rows(indexes: Sequence[PreparedIndex]) -> int:
    return sum(len(rows) for index in indexes for rows in index.rows.values())


def _kib(size: int) -> int:
    return -(-size // 1024)  # rounded up: a 300-byte body is still a page written


def _replaced_bytes(conn: sqlite3.Connection, op: WriteOp) -> int:
    row = conn.execute(
        "SELECT length(body) FROM resources WHERE type = ? AND id = ?",
        (op.resource_type, op.id),
    ).fetchone()
    return int(row[0] or 0) if row else 0
