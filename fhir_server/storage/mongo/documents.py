"""The shape of MongoDB documents: resources, history versions and index entries.

Every document carries `tenant`; the store adds it to every filter it sends, so no query
can reach another tenant's documents (docs/mongodb.md, "Tenant isolation").

A resource's search index is the sub-document `idx`, holding one array per kind of
entry, each element a small sub-document for one `IndexEntry`:

    idx.s  string     {p, v: folded value, x: exact text}
    idx.t  token      {p, sy: system, c: code, tx: folded display text}
    idx.r  reference  {p, rt: target type, ri: target id, u: url, rv: url version,
                       is: identifier system, iv: identifier value}
    idx.d  date       {p, lo, hi}                 int64 microseconds, inclusive
    idx.n  number     {p, lo, hi, m}              m = (lo + hi) / 2: the stated value
    idx.q  quantity   {p, lo, hi, m, sy, c, un: unit, clo, chi, cm, cc: canonical UCUM}
    idx.u  uri        {p, v}
    idx.c  composite  {p, k: [[component key fields], ...]}

One array per kind, rather than one array of every entry, because a multikey index holds
a key for every element of the array it covers: with a single array each of the nine
entry indexes would index every entry of the resource; with one array per kind, each
entry is indexed by the one or two indexes of its own kind. `p` (the parameter) comes
first in every element and every index. Field names are short because they repeat in
every element; fields whose value is None are left out (`{field: null}` also matches a
missing field, so "no system" queries still work). `m`/`cm` exist because R4 compares
a number's stated value (the middle of its precision range), and a query cannot compute
inside `$elemMatch`.

Values are stored only as field values, never as field names, so nothing a client writes
can become a MongoDB operator; resource bodies are opaque bytes for the same reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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
from fhir_server.storage.contracts import StoredVersion, WriteOp

__all__ = [
    "ARRAYS",
    "FIELDS",
    "NO_INDEX",
    "Document",
    "history_document",
    "index_document",
    "resource_fields",
    "stored_version",
]

Document = dict[str, Any]

# Served documents leave out the index array (large, and of no use to the caller).
NO_INDEX = {"idx": 0}

# The same separator as the SQLite adapter: it cannot occur in FHIR strings.

# Entry kind (the R4 search parameter type) -> its array under `idx`.
ARRAYS = {
    "string": "s",
    "token": "t",
    "reference": "r",
    "date": "d",
    "number": "n",
    "quantity": "q",
    "uri": "u",
    "composite": "c",
}

# Entry kind -> {IndexEntry field name: element field name}.
FIELDS: dict[str, dict[str, str]] = {
    "string": {"param": "p", "value": "v", "exact": "x"},
    "token": {"param": "p", "system": "sy", "code": "c", "text": "tx"},
    "reference": {
        "param": "p",
        "target_type": "rt",
        "target_id": "ri",
        "url": "u",
        "version": "rv",
        "identifier_system": "is",
        "identifier_value": "iv",
    },
    "date": {"param": "p", "low": "lo", "high": "hi"},
    "number": {"param": "p", "low": "lo", "high": "hi"},
    "quantity": {
        "param": "p",
        "low": "lo",
        "high": "hi",
        "system": "sy",
        "code": "c",
        "unit": "un",
        "canonical_low": "clo",
        "canonical_high": "chi",
        "canonical_code": "cc",
    },
    "uri": {"param": "p", "value": "v"},
    "composite": {"param": "p", "key": "k"},
}

_KINDS: dict[type, str] = {
    StringEntry: "string",
    TokenEntry: "token",
    ReferenceEntry: "reference",
    DateEntry: "date",
    NumberEntry: "number",
    QuantityEntry: "quantity",
    UriEntry: "uri",
    CompositeEntry: "composite",
}


def _element(kind: str, entry: IndexEntry) -> Document:
    if isinstance(entry, CompositeEntry):
        # Component key arrays as nested arrays: searches address `k.<component>.<field>`.
        return {"p": entry.param, "k": [list(part) for part in entry.components]}
    element = {
        short: value
        for name, short in FIELDS[kind].items()
        if (value := getattr(entry, name)) is not None
    }
    if isinstance(entry, NumberEntry | QuantityEntry) and entry.is_range:
        element["rg"] = True  # a true range: prefixes meet its ends, never a middle
    elif isinstance(entry, NumberEntry | QuantityEntry):
        element["m"] = (entry.low + entry.high) / 2.0  # as SQLite computes it: IEEE double
        if isinstance(entry, QuantityEntry):
            low, high = entry.canonical_low, entry.canonical_high
            if low is not None and high is not None:
                element["cm"] = (low + high) / 2.0
    return element


def index_document(entries: Iterable[IndexEntry]) -> Document:
    """The `idx` sub-document of a resource. Duplicate entries are dropped: an element
    that matches once matches as often as it is repeated, and each copy costs index keys."""
    seen: set[IndexEntry] = set()
    arrays: dict[str, list[Document]] = {}
    for entry in entries:
        if entry in seen:
            continue
        seen.add(entry)
        kind = _KINDS.get(type(entry))
        if kind is None:
            raise TypeError(f"unknown index entry {type(entry).__name__}")
        arrays.setdefault(ARRAYS[kind], []).append(_element(kind, entry))
    return arrays


def resource_fields(op: WriteOp) -> Document:
    """The fields a write sets on the current-version document (not tenant, type, id, pos)."""
    deleted = op.body is None
    return {
        "version": op.version,
        "updated": op.last_updated_us,
        "method": op.method,
        "deleted": deleted,
        "body": op.body,
        # A deletion leaves nothing searchable, as in the SQLite adapter.
        "idx": {} if deleted else index_document(op.index),
    }


def history_document(tenant: str, op: WriteOp, seq: int) -> Document:
    """One version in the `history` collection; `ended` is set when it stops being current."""
    return {
        "tenant": tenant,
        "type": op.resource_type,
        "id": op.id,
        "version": op.version,
        "updated": op.last_updated_us,
        "ended": None,
        "method": op.method,
        "body": op.body,
        "seq": seq,
    }


def stored_version(doc: Document, position_field: str) -> StoredVersion:
    """A StoredVersion from a resource (`pos`) or history (`seq`) document."""
    body = doc.get("body")
    return StoredVersion(
        resource_type=str(doc["type"]),
        id=str(doc["id"]),
        version=int(doc["version"]),
        last_updated_us=int(doc["updated"]),
        method=str(doc["method"]),
        body=bytes(body) if body is not None else None,
        position=int(doc[position_field]),
    )
