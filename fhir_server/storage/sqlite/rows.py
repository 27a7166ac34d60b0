"""Rows of `resources` and `history` as `StoredVersion`s."""

from __future__ import annotations

from collections.abc import Iterable

from fhir_server.storage.contracts import StoredVersion

__all__ = ["PK_COLUMN", "VERSION_COLUMNS", "VERSION_WIDTH", "pk_list", "version_of"]

# The columns `version_of` reads, in order, from `resources r` (history selects the same
# names, with `seq` as the position).
VERSION_COLUMNS = "r.type, r.id, r.version, r.last_updated_us, r.method, r.body, r.pk"
VERSION_WIDTH = 7  # columns of VERSION_COLUMNS: a page row's sort values follow them
PK_COLUMN = 6  # where a row holds its pk


def pk_list(pks: Iterable[int]) -> str:
    """Pks as a JSON array, for `json_each`: integers of our own, so safe as a literal."""
    return "[" + ",".join(str(int(pk)) for pk in pks) + "]"


def version_of(row: tuple[object, ...]) -> StoredVersion:
    """A StoredVersion from a row starting (type, id, version, last_updated_us, method,
    body, position); further columns (sort values) are ignored."""
    rtype, rid, version, updated, method, body, position = row[:7]
    return StoredVersion(
        resource_type=str(rtype),
        id=str(rid),
        version=int(str(version)),
        last_updated_us=int(str(updated)),
        method=str(method),
        body=bytes(body) if isinstance(body, bytes | memoryview) else None,
        position=int(str(position)),
    )
