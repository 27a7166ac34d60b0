"""Collections, indexes and database roles of the MongoDB backend (docs/mongodb.md).

All tenants share these collections; every index starts with `tenant` (and `type` where
searches are per type), so a query of one tenant only ever walks that tenant's keys, and
the same prefix is the shard key on a sharded cluster. Index creation is idempotent: the
server runs `ensure_indexes` at start-up and `fhir-server mongo init` runs it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

__all__ = [
    "AUDIT",
    "COUNTERS",
    "HISTORY",
    "INDEXES",
    "IN_PLACE",
    "RESOURCES",
    "ROLES",
    "SETTINGS",
    "SHARD_KEYS",
    "TENANTS",
    "IndexSpec",
    "RoleSpec",
    "ensure_indexes",
]

RESOURCES = "resources"  # the current version of each resource, with its `idx` array
HISTORY = "history"  # every version
COUNTERS = "counters"  # one document per tenant: the next position
TENANTS = "tenants"  # the tenant registry
SETTINGS = "settings"  # tenant-level settings (custom search parameters...)
# changes to a current version that make no new one ($meta-add...), with the body before
IN_PLACE = "in_place_writes"
AUDIT = "audit_ledger"  # the audit ledger (the audit issue); named here for its role


@dataclass(frozen=True, slots=True)
class IndexSpec:
    collection: str
    name: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False
    partial: dict[str, Any] | None = None  # partialFilterExpression: only these documents


def _index(
    collection: str,
    name: str,
    *fields: str,
    unique: bool = False,
    partial: dict[str, Any] | None = None,
) -> IndexSpec:
    return IndexSpec(collection, name, tuple((f, 1) for f in fields), unique, partial)


INDEXES = (
    # read, vread's parent, compare-and-swap, `_id`; also the shard key of `resources`
    _index(RESOURCES, "tenant_type_id", "tenant", "type", "id", unique=True),
    # a search without conditions, and every page, walks positions in order
    _index(RESOURCES, "tenant_type_pos", "tenant", "type", "pos"),
    _index(RESOURCES, "tenant_pos", "tenant", "pos"),  # system-level search
    _index(RESOURCES, "tenant_type_updated", "tenant", "type", "updated"),
    # compound multikey indexes over the per-kind entry arrays, queried with $elemMatch
    _index(RESOURCES, "idx_string", "tenant", "type", "idx.s.p", "idx.s.v"),
    _index(RESOURCES, "idx_token", "tenant", "type", "idx.t.p", "idx.t.c", "idx.t.sy"),
    _index(RESOURCES, "idx_reference", "tenant", "type", "idx.r.p", "idx.r.ri", "idx.r.rt"),
    _index(RESOURCES, "idx_date", "tenant", "type", "idx.d.p", "idx.d.lo", "idx.d.hi"),
    # `gt`/`ge`/`sa` bound the high end alone: without this their scan of idx_date
    # would be bounded by the parameter only
    _index(RESOURCES, "idx_date_high", "tenant", "type", "idx.d.p", "idx.d.hi"),
    _index(RESOURCES, "idx_number", "tenant", "type", "idx.n.p", "idx.n.m"),
    _index(RESOURCES, "idx_quantity", "tenant", "type", "idx.q.p", "idx.q.cc", "idx.q.cm"),
    _index(RESOURCES, "idx_uri", "tenant", "type", "idx.u.p", "idx.u.v"),
    _index(RESOURCES, "idx_composite", "tenant", "type", "idx.c.p", "idx.c.k"),
    # vread and instance history; unique so a version can never be written twice
    _index(HISTORY, "tenant_type_id_version", "tenant", "type", "id", "version", unique=True),
    _index(HISTORY, "tenant_seq", "tenant", "seq"),
    _index(HISTORY, "tenant_type_seq", "tenant", "type", "seq"),
    # a held sort's later page: the updates and deletions since its mark, creations left
    # out of the index (a bulk load after a first page costs its later pages nothing)
    _index(
        HISTORY, "tenant_type_changes", "tenant", "type", "seq", partial={"version": {"$gt": 1}}
    ),
    _index(SETTINGS, "tenant_name", "tenant", "name", unique=True),
    # a held sort's later page: in-place writes since its mark, and a version's first one
    _index(IN_PLACE, "tenant_type_seq", "tenant", "type", "seq"),
    _index(IN_PLACE, "tenant_type_id_version", "tenant", "type", "id", "version", "seq"),
)

# For `sh.shardCollection` on a sharded cluster (docs/mongodb.md); unused on a replica set.
SHARD_KEYS: dict[str, dict[str, int]] = {
    RESOURCES: {"tenant": 1, "type": 1, "id": 1},
    HISTORY: {"tenant": 1, "type": 1, "id": 1},
}


@dataclass(frozen=True, slots=True)
class RoleSpec:
    name: str
    description: str
    privileges: tuple[tuple[str, tuple[str, ...]], ...]  # (collection, actions)


_SERVER_ACTIONS = ("find", "insert", "update", "createIndex", "listIndexes")

ROLES = (
    RoleSpec(
        "fhirServer",
        "The FHIR server: reads and writes resources, history, positions and tenants. "
        "It cannot drop or remove anything, nor touch the audit ledger.",
        tuple(
            (name, _SERVER_ACTIONS)
            for name in (RESOURCES, HISTORY, COUNTERS, TENANTS, SETTINGS, IN_PLACE)
        ),
    ),
    RoleSpec(
        "fhirAuditWriter",
        "Appends to the audit ledger and reads it; no update, no remove: write-once at the "
        "database level.",
        ((AUDIT, ("find", "insert")),),
    ),
)


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Create every index that is missing; existing ones are left as they are."""
    for spec in INDEXES:
        options: dict[str, Any] = {"name": spec.name, "unique": spec.unique}
        if spec.partial is not None:
            options["partialFilterExpression"] = spec.partial
        await db.get_collection(spec.collection).create_index(list(spec.keys), **options)
