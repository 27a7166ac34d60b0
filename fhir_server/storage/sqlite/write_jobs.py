"""The writes a tenant's writer runs: module-level functions of plain data, bound with
`functools.partial` by the store, so that the store holds no write logic of its own and a
job could as well be sent to another process (they pickle).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence

from fhir_server.storage.conditional_creates import checks, deleted_by, matched_outside
from fhir_server.storage.contracts import VersionConflict, WriteOp
from fhir_server.storage.sqlite.index_rows import (
    KnownWidths,
    PreparedIndex,
    delete_index_rows,
    insert_index_rows,
)
from fhir_server.storage.sqlite.search_page import search_page
from fhir_server.storage.sqlite.token_counts import kept_count

__all__ = ["apply_ops", "forget_widths", "replace_index", "write_setting"]

# Date widths this process has recorded, per database file (path and inode: a file
# deleted and made anew at the same path starts from nothing).
_WIDTHS: dict[tuple[str, int], KnownWidths] = {}


def _known_widths(path: str) -> KnownWidths:
    return _WIDTHS.setdefault((path, os.stat(path).st_ino), {})


def forget_widths(path: str) -> None:
    """After a rollback: widths recorded by the rolled-back writes were never stored, so
    what this process remembers of the database is no longer sure; it is relearned."""
    for key in [key for key in list(_WIDTHS) if key[0] == path]:  # others may add meanwhile
        _WIDTHS.pop(key, None)


def apply_ops(
    conn: sqlite3.Connection,
    path: str,
    ops: Sequence[WriteOp],
    indexes: Sequence[PreparedIndex],
) -> None:
    """Apply each op as a compare-and-swap; runs inside the writer's transaction.
    `indexes[i]` holds the index rows of `ops[i]` (`prepare_index` of its entries)."""
    _refuse_matched(conn, ops)
    widths = _known_widths(path)
    for index, (op, prepared) in enumerate(zip(ops, indexes, strict=True)):
        _apply_op(conn, index, op, prepared, widths)


def _refuse_matched(conn: sqlite3.Connection, ops: Sequence[WriteOp]) -> None:
    """Refuse a conditional create whose criteria match by now (conditional_creates):
    under the write lock, so a racing conditional create that committed first is seen."""
    deleted = deleted_by(ops)
    for index, plan in checks(ops, deleted):
        # the usual criteria (identifier=system|value): one row of the kept counts
        kept = None if deleted else kept_count(conn, plan)
        if kept is not None:
            refused = kept > 0
        else:
            refused = matched_outside(search_page(conn, plan).matches, deleted)
        if refused:
            raise VersionConflict(index, 0)


def _apply_op(
    conn: sqlite3.Connection,
    index: int,
    op: WriteOp,
    prepared: PreparedIndex,
    widths: KnownWidths,
) -> None:
    row = conn.execute(
        "SELECT pk, version FROM resources WHERE type = ? AND id = ?",
        (op.resource_type, op.id),
    ).fetchone()
    current = int(row[1]) if row else 0
    pk = int(row[0]) if row else None
    if op.in_place:
        _replace_in_place(conn, index, op, prepared, pk, current)
        return
    if current != op.expected_version:
        raise VersionConflict(index, current)
    deleted = op.body is None
    if pk is not None:
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
            (op.resource_type, op.id, op.version, op.last_updated_us, op.method, deleted, op.body),
        )
        pk = int(cursor.lastrowid or 0)
    conn.execute(
        "INSERT INTO history (pk, type, id, version, last_updated_us, method, body) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (pk, op.resource_type, op.id, op.version, op.last_updated_us, op.method, op.body),
    )
    if not deleted:
        insert_index_rows(conn, op.resource_type, pk, prepared, widths)


def _replace_in_place(
    conn: sqlite3.Connection,
    index: int,
    op: WriteOp,
    prepared: PreparedIndex,
    pk: int | None,
    current: int,
) -> None:
    """Replace the body of an existing version without adding one (WriteOp.in_place).
    Refused unless the writer's view of the current version still holds: a change to an
    older version after a racing update would otherwise land on what it never saw."""
    if pk is None or op.body is None or op.expected_version != current:
        raise VersionConflict(index, current)
    _note_in_place_write(conn, pk, op.version)
    if op.version == current:
        conn.execute("UPDATE resources SET body = ? WHERE pk = ?", (op.body, pk))
        delete_index_rows(conn, [pk])
        insert_index_rows(conn, op.resource_type, pk, prepared)
    cursor = conn.execute(
        "UPDATE history SET body = ? WHERE pk = ? AND version = ? AND body IS NOT NULL",
        (op.body, pk, op.version),
    )
    if cursor.rowcount != 1:
        raise VersionConflict(index, current)


def _note_in_place_write(conn: sqlite3.Connection, pk: int, version: int) -> None:
    """Note that a version's body (and, if current, its index) is about to change without
    a new version, with the body it had: a walk in value order places the resource by it
    (held_walk). The note takes the next number of the history's own sequence, so that
    one watermark orders both. (No number, no version: the caller's check refuses.)"""
    drawn = conn.execute(
        "UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'history' RETURNING seq"
    ).fetchone()
    if drawn is None:
        return
    conn.execute(
        "INSERT INTO in_place_writes (seq, pk, type, version, body_before) "
        "SELECT ?, pk, type, version, body FROM history "
        "WHERE pk = ? AND version = ? AND body IS NOT NULL",
        (drawn[0], pk, version),
    )


def replace_index(
    conn: sqlite3.Connection,
    path: str,
    resource_type: str,
    resource_id: str,
    version: int,
    prepared: PreparedIndex,
) -> bool:
    """Replace the index rows of the current version (a reindex); False if superseded."""
    row = conn.execute(
        "SELECT pk FROM resources WHERE type = ? AND id = ? AND version = ? AND deleted = 0",
        (resource_type, resource_id, version),
    ).fetchone()
    if row is None:
        return False
    delete_index_rows(conn, [int(row[0])])
    insert_index_rows(conn, resource_type, int(row[0]), prepared, _known_widths(path))
    return True


def write_setting(conn: sqlite3.Connection, name: str, value: bytes) -> None:
    conn.execute(
        "INSERT INTO settings VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (name, value),
    )
