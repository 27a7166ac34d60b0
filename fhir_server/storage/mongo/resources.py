"""The MongoDB `ResourceStore`: one tenant's resources, history and search index.

Every filter this store sends starts from `{"tenant": ...}` (the compilers take the
tenant as their first argument), so a store bound to one tenant cannot see another's
documents. Reads skip the `idx` array: it is for the server's indexes, not for clients.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from fhir_server.search.entries import IndexEntry
from fhir_server.search.plan import Condition, IncludeSpec, SearchPlan
from fhir_server.storage.conditional_creates import checks, deleted_by, matched_outside
from fhir_server.storage.contracts import (
    HistoryPage,
    HistoryQuery,
    PastIndex,
    SearchPage,
    StoredVersion,
    TransactionsUnsupported,
    VersionConflict,
    WriteOp,
)
from fhir_server.storage.mongo.backend import MongoBackend
from fhir_server.storage.mongo.documents import NO_INDEX, index_document, stored_version
from fhir_server.storage.mongo.history_query import history_filter
from fhir_server.storage.mongo.search_includes import canonicals_held, include_step
from fhir_server.storage.mongo.search_page import search_page
from fhir_server.storage.mongo.search_query import clamp_int64
from fhir_server.storage.mongo.writes import allocate_positions, apply_ops

__all__ = ["MongoResourceStore"]

_MAJORITY = WriteConcern("majority")
# A transaction reads one snapshot, so its compare-and-swap checks see a single moment.
_SNAPSHOT = ReadConcern("snapshot")


class MongoResourceStore:
    """Implements `fhir_server.storage.contracts.ResourceStore` on MongoDB."""

    def __init__(self, backend: MongoBackend, tenant: str) -> None:
        self._backend = backend
        self._cols = backend.collections
        self._tenant = tenant

    async def supports_transactions(self) -> bool:
        """True on a replica set or sharded cluster; False on a standalone server, where
        a batch of more than one op is refused rather than applied in part."""
        await self._backend.ready()
        return self._backend.transactions

    async def read(self, resource_type: str, resource_id: str) -> StoredVersion | None:
        await self._backend.ready()
        doc = await self._cols.resources.find_one(
            {"tenant": self._tenant, "type": resource_type, "id": resource_id}, NO_INDEX
        )
        return stored_version(doc, "pos") if doc else None

    async def vread(
        self, resource_type: str, resource_id: str, version: int
    ) -> StoredVersion | None:
        await self._backend.ready()
        doc = await self._cols.history.find_one(
            {
                "tenant": self._tenant,
                "type": resource_type,
                "id": resource_id,
                "version": clamp_int64(version),
            }
        )
        return stored_version(doc, "seq") if doc else None

    async def commit(self, ops: Sequence[WriteOp]) -> None:
        """All ops or none: one transaction with majority write concern on a replica set;
        on a standalone server a single op (one CAS, then its history) and nothing more."""
        if not ops:
            return
        await self._backend.ready()
        if not self._backend.transactions and len(ops) > 1:
            raise TransactionsUnsupported(
                "This MongoDB server is standalone: it cannot apply several writes atomically"
            )
        await self._refuse_matched(ops)
        positions = await allocate_positions(self._cols.counters, self._tenant, len(ops))
        if not self._backend.transactions:
            await apply_ops(self._cols, self._tenant, ops, positions, None)
            return

        async def in_transaction(session: AsyncClientSession) -> None:
            # with_transaction may run this again after a transient error: it only
            # writes, from inputs fixed above, so a retry repeats exactly the same work.
            await apply_ops(self._cols, self._tenant, ops, positions, session)

        async with self._backend.client.start_session() as session:
            await session.with_transaction(
                in_transaction, read_concern=_SNAPSHOT, write_concern=_MAJORITY
            )

    async def _refuse_matched(self, ops: Sequence[WriteOp]) -> None:
        """Refuse a conditional create whose criteria match by now (conditional_creates).
        Checked before writing, not under a lock (see WriteOp)."""
        deleted = deleted_by(ops)
        for index, plan in checks(ops, deleted):
            if matched_outside((await self.search(plan)).matches, deleted):
                raise VersionConflict(index, 0)

    async def history(self, query: HistoryQuery) -> HistoryPage:
        await self._backend.ready()
        found = history_filter(self._tenant, query)
        total = await self._cols.history.count_documents(found)
        if query.before_position is not None:
            found["seq"] = {"$lt": clamp_int64(query.before_position)}
        docs = await self._cols.history.find(
            found, sort=[("seq", -1)], limit=query.count + 1
        ).to_list(None)
        versions = [stored_version(d, "seq") for d in docs[: query.count]]
        return HistoryPage(
            versions=versions,
            total=total,
            has_more=len(docs) > query.count,
            revivals=await self._revivals(versions),
        )

    async def _revivals(self, versions: list[StoredVersion]) -> frozenset[int]:
        """The positions of `versions` whose previous version is a deletion (one query for
        the page; the previous version may lie outside the query's window)."""
        later = [v for v in versions if v.version > 1 and not v.deleted]
        if not later:
            return frozenset()
        before = [{"type": v.resource_type, "id": v.id, "version": v.version - 1} for v in later]
        deletions = await self._cols.history.find(
            {"tenant": self._tenant, "body": None, "$or": before},
            projection={"type": 1, "id": 1, "version": 1},
        ).to_list(None)
        deleted = {(d["type"], d["id"], d["version"]) for d in deletions}
        return frozenset(
            v.position for v in later if (v.resource_type, v.id, v.version - 1) in deleted
        )

    async def search(self, plan: SearchPlan, past_index: PastIndex | None = None) -> SearchPage:
        await self._backend.ready()
        return await search_page(self._tenant, self._cols, plan, past_index)

    async def include(
        self, spec: IncludeSpec, sources: Sequence[StoredVersion]
    ) -> list[StoredVersion]:
        await self._backend.ready()
        return await include_step(self._tenant, self._cols.resources, spec, list(sources))

    async def canonicals(
        self, resource_type: str, param: str, condition: Condition, limit: int
    ) -> list[tuple[str, str | None]]:
        await self._backend.ready()
        return await canonicals_held(
            self._tenant, self._cols.resources, resource_type, param, condition, limit
        )

    async def replace_index(
        self, resource_type: str, resource_id: str, version: int, index: Sequence[IndexEntry]
    ) -> bool:
        await self._backend.ready()
        result = await self._cols.resources.update_one(
            {
                "tenant": self._tenant,
                "type": resource_type,
                "id": resource_id,
                "version": clamp_int64(version),
                "deleted": False,
            },
            {"$set": {"idx": index_document(index)}},
        )
        return result.matched_count == 1

    async def read_setting(self, name: str) -> bytes | None:
        await self._backend.ready()
        doc = await self._cols.settings.find_one({"tenant": self._tenant, "name": name})
        return bytes(doc["value"]) if doc else None

    async def write_setting(self, name: str, value: bytes) -> None:
        await self._backend.ready()
        await self._cols.settings.update_one(
            {"tenant": self._tenant, "name": name}, {"$set": {"value": value}}, upsert=True
        )
