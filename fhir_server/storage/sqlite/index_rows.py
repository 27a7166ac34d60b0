"""Index entries as rows of the per-kind index tables."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

import orjson

from fhir_server.search.entries import (
    CompositeEntry,
    DateEntry,
    IndexEntry,
    NumberEntry,
    QuantityEntry,
    ReferenceEntry,
    StringEntry,
    TokenEntry,
    UriEntry,
)
from fhir_server.storage.sqlite.schema import INDEX_TABLES

__all__ = ["delete_index_rows", "insert_index_rows"]

Row = tuple[object, ...]

_INSERTS = {
    "idx_string": "INSERT INTO idx_string VALUES (?, ?, ?, ?, ?)",
    "idx_token": "INSERT INTO idx_token VALUES (?, ?, ?, ?, ?, ?)",
    "idx_reference": "INSERT INTO idx_reference VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "idx_date": "INSERT INTO idx_date VALUES (?, ?, ?, ?, ?)",
    "idx_number": "INSERT INTO idx_number VALUES (?, ?, ?, ?, ?)",
    "idx_quantity": "INSERT INTO idx_quantity VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "idx_uri": "INSERT INTO idx_uri VALUES (?, ?, ?, ?)",
    "idx_composite": "INSERT INTO idx_composite VALUES (?, ?, ?, ?)",
}


def _row(resource_type: str, pk: int, entry: IndexEntry) -> tuple[str, Row]:
    match entry:
        case StringEntry(param, value, exact):
            return "idx_string", (resource_type, param, value, exact, pk)
        case TokenEntry(param, system, code, text):
            return "idx_token", (resource_type, param, system, code, text, pk)
        case ReferenceEntry(param, ttype, tid, url, version, isys, ivalue):
            return "idx_reference", (
                resource_type,
                param,
                ttype,
                tid,
                url,
                version,
                isys,
                ivalue,
                pk,
            )
        case DateEntry(param, low, high):
            return "idx_date", (resource_type, param, low, high, pk)
        case NumberEntry(param, low, high):
            return "idx_number", (resource_type, param, low, high, pk)
        case QuantityEntry(param, low, high, system, code, unit, clow, chigh, ccode):
            row = (resource_type, param, low, high, system, code, unit, clow, chigh, ccode, pk)
            return "idx_quantity", row
        case UriEntry(param, value):
            return "idx_uri", (resource_type, param, value, pk)
        case CompositeEntry(param, components):
            # A JSON array of component key arrays: searches read fields with json_extract.
            key = orjson.dumps([list(part) for part in components]).decode()
            return "idx_composite", (resource_type, param, key, pk)
    raise TypeError(f"unknown index entry {type(entry).__name__}")


def insert_index_rows(
    conn: sqlite3.Connection,
    resource_type: str,
    pk: int,
    entries: Iterable[IndexEntry],
    known_widths: KnownWidths | None = None,
) -> None:
    """Insert the rows of one resource's index entries, grouped by table."""
    # One row per distinct entry: a resource listed twice under the same value (the same
    # identifier on two slots) must still come out of a search once.
    by_table: dict[str, dict[Row, None]] = {}
    widths: dict[str, int] = {}
    for entry in entries:
        table, row = _row(resource_type, pk, entry)
        by_table.setdefault(table, {})[row] = None
        if isinstance(entry, DateEntry):
            widths[entry.param] = max(widths.get(entry.param, 0), entry.high - entry.low)
    for table, rows in by_table.items():
        conn.executemany(_INSERTS[table], list(rows))
    widths = _wider_than_known(known_widths, resource_type, widths)
    if widths:
        conn.executemany(
            "INSERT INTO date_widths VALUES (?, ?, ?) ON CONFLICT (type, param) "
            "DO UPDATE SET width = max(width, excluded.width)",
            [(resource_type, param, width) for param, width in widths.items()],
        )


# The widths a store has already recorded (one dict per database, kept by its writer):
# most writes are no wider than what is known, and then need no upsert. Another process
# may have recorded wider ones; the upsert's max() keeps the stored value right anyway.
KnownWidths = dict[tuple[str, str], int]


def _wider_than_known(
    known: KnownWidths | None, resource_type: str, widths: dict[str, int]
) -> dict[str, int]:
    if known is None:
        return widths
    wider = {}
    for param, width in widths.items():
        if width > known.get((resource_type, param), -1):
            known[(resource_type, param)] = width
            wider[param] = width
    return wider


def delete_index_rows(conn: sqlite3.Connection, pks: Sequence[int]) -> None:
    """Remove every index row of the given resources."""
    for table in INDEX_TABLES:
        conn.executemany(f"DELETE FROM {table} WHERE pk = ?", [(pk,) for pk in pks])
