"""Index entries as rows of the per-kind index tables."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

import orjson

from fhir_server.search.entries import (
    DATE_MAX,
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

__all__ = ["PreparedIndex", "delete_index_rows", "insert_index_rows", "prepare_index"]

Row = tuple[object, ...]

_TABLES: dict[type[IndexEntry], str] = {
    StringEntry: "idx_string",
    TokenEntry: "idx_token",
    ReferenceEntry: "idx_reference",
    DateEntry: "idx_date",
    NumberEntry: "idx_number",
    QuantityEntry: "idx_quantity",
    UriEntry: "idx_uri",
    CompositeEntry: "idx_composite",
}

# Columns per table: `type`, then the entry's fields in order (the values `_row` gives),
# then the resource's `pk` (bound once per statement, as ?1). Inserts name them: a column
# added to an older database comes after `pk` there (ADDED_COLUMNS).
_COLUMNS = {
    table: ("type", *("key" if f.name == "components" else f.name for f in fields(kind)), "pk")
    for kind, table in _TABLES.items()
}


def _row(resource_type: str, entry: IndexEntry) -> tuple[str, Row]:
    """The entry's table and its row, but for the trailing `pk`."""
    match entry:
        case StringEntry(param, value, exact):
            return "idx_string", (resource_type, param, value, exact)
        case TokenEntry(param, system, code, text):
            return "idx_token", (resource_type, param, system, code, text)
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
            )
        case DateEntry(param, low, high):
            return "idx_date", (resource_type, param, low, high)
        case NumberEntry(param, low, high, is_range):
            return "idx_number", (resource_type, param, low, high, int(is_range))
        case QuantityEntry(param, low, high, system, code, unit, clow, chigh, ccode, is_range):
            row = (resource_type, param, low, high, system, code, unit, clow, chigh, ccode)
            return "idx_quantity", (*row, int(is_range))
        case UriEntry(param, value):
            return "idx_uri", (resource_type, param, value)
        case CompositeEntry(param, components):
            # A JSON array of component key arrays: searches read fields with json_extract.
            key = orjson.dumps([list(part) for part in components]).decode()
            return "idx_composite", (resource_type, param, key)
    raise TypeError(f"unknown index entry {type(entry).__name__}")


@dataclass(frozen=True, slots=True)
class PreparedIndex:
    """One resource's index rows, ready to insert under any `pk`: built before the writer
    takes the database lock, so the lock is held for SQLite's work alone."""

    rows: dict[str, list[Row]]  # per table, distinct rows without their pk
    date_widths: dict[str, int]  # per date parameter, the widest range (high - low)


def prepare_index(resource_type: str, entries: Iterable[IndexEntry]) -> PreparedIndex:
    # One row per distinct entry: a resource listed twice under the same value (the same
    # identifier on two slots) must still come out of a search once.
    by_table: dict[str, dict[Row, None]] = {}
    widths: dict[str, int] = {}
    for entry in entries:
        table, row = _row(resource_type, entry)
        by_table.setdefault(table, {})[row] = None
        if isinstance(entry, DateEntry):
            width = min(entry.high - entry.low, DATE_MAX)  # an open end spans past int64
            widths[entry.param] = max(widths.get(entry.param, 0), width)
    if "idx_token" in by_table:
        by_table["idx_token"] = dict.fromkeys(_one_row_per_code(by_table["idx_token"]))
    return PreparedIndex({table: list(rows) for table, rows in by_table.items()}, widths)


def _one_row_per_code(rows: Iterable[Row]) -> list[Row]:
    """Token rows with at most one per (param, system, code): a coding repeated with another
    display would make an equality search list the resource twice, and an index count
    count it twice. The repeat's display stays searchable by `:text`, as a row of text
    alone (no code: no equality matches it)."""
    first_text: dict[tuple[object, ...], object] = {}
    kept = []
    for row in rows:
        resource_type, param, system, code, text = row
        if code is None:
            kept.append(row)
        elif (param, system, code) not in first_text:
            first_text[(param, system, code)] = text
            kept.append(row)
        elif text is not None and text != first_text[(param, system, code)]:
            kept.append((resource_type, param, None, None, text))
    return kept


def insert_index_rows(
    conn: sqlite3.Connection,
    resource_type: str,
    pk: int,
    prepared: PreparedIndex,
    known_widths: KnownWidths | None = None,
) -> None:
    """Insert one resource's prepared rows. Several rows go in one multi-row INSERT: each
    statement is a step that lets go of the GIL and must win it back, which under load
    costs more than the insert itself."""
    for table, rows in prepared.rows.items():
        start = 0
        for size in _chunk_sizes(len(rows)):
            chunk = rows[start : start + size]
            start += size
            values: list[object] = [pk]
            for row in chunk:
                values.extend(row)
            conn.execute(_insert_sql(table, size), values)
    widths = _wider_than_known(known_widths, resource_type, prepared.date_widths)
    if widths:
        conn.executemany(
            "INSERT INTO date_widths VALUES (?, ?, ?) ON CONFLICT (type, param) "
            "DO UPDATE SET width = max(width, excluded.width)",
            [(resource_type, param, width) for param, width in widths.items()],
        )


# Row counts of one INSERT: any count is a sum of these, so a handful of statement texts
# per table (kept by the connection's statement cache) serve every resource.
_SIZES = (64, 16, 4, 1)


def _chunk_sizes(count: int) -> list[int]:
    sizes = []
    for size in _SIZES:
        while count >= size:
            sizes.append(size)
            count -= size
    return sizes


@functools.cache
def _insert_sql(table: str, rows: int) -> str:
    """`INSERT INTO t (..., pk) VALUES (?2, ?3, ..., ?1), (...)`: every row ends with the
    pk, ?1."""
    columns = _COLUMNS[table]
    width = len(columns) - 1
    groups = []
    for row in range(rows):
        first = 2 + row * width
        params = ", ".join(f"?{n}" for n in range(first, first + width))
        groups.append(f"({params}, ?1)")
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join(groups)


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
