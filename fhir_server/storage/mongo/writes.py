"""Applying a batch of `WriteOp`s: compare-and-swap on the current-version document.

Each op either inserts the resource's document (expected version 0; the unique index on
(tenant, type, id) turns a racing creator into a `VersionConflict`) or updates it only
if its `version` is still the one the writer read. The history version is appended and
the previous one marked `ended`. On a replica set all of it runs in one multi-document
transaction (see `MongoResourceStore.commit`); every step here takes that session.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DocumentTooLarge, DuplicateKeyError, OperationFailure

from fhir_server.errors import PayloadTooLarge
from fhir_server.storage.contracts import VersionConflict, WriteOp
from fhir_server.storage.mongo.documents import Document, history_document, resource_fields

__all__ = ["Collection", "Collections", "allocate_positions", "apply_ops"]

Collection = AsyncCollection[Document]

# Server error codes for a document over the 16 MiB BSON limit (insert, and update result).
_TOO_LARGE_CODES = frozenset({10334, 17419, 17420})


class Collections:
    """The collections a tenant's store reads and writes."""

    def __init__(
        self,
        resources: Collection,
        history: Collection,
        counters: Collection,
        settings: Collection,
        in_place: Collection,
    ) -> None:
        self.resources = resources
        self.history = history
        self.counters = counters
        self.settings = settings
        self.in_place = in_place


async def allocate_positions(counters: Collection, tenant: str, count: int) -> list[int]:
    """`count` fresh positions from the tenant's counter, in increasing order.

    One atomic `$inc` outside any transaction: inside one, every concurrent write of the
    tenant would conflict on this document. A position whose write then fails is a gap,
    which paging does not mind.
    """
    counter = await counters.find_one_and_update(
        {"_id": tenant},
        {"$inc": {"next": count}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    last = int(counter["next"]) if counter else count
    return list(range(last - count + 1, last + 1))


async def _current_version(
    cols: Collections, tenant: str, rtype: str, rid: str, session: AsyncClientSession | None
) -> int:
    doc = await cols.resources.find_one(
        {"tenant": tenant, "type": rtype, "id": rid}, {"version": 1}, session=session
    )
    return int(doc["version"]) if doc else 0


async def _precheck(
    cols: Collections, tenant: str, ops: Sequence[WriteOp], session: AsyncClientSession | None
) -> None:
    """Refuse a stale batch before writing anything.

    Inside a transaction this only saves work; where no transaction exists (the test
    double) it is what keeps a batch that conflicts up front from being half-applied.
    """
    keys = {(op.resource_type, op.id) for op in ops}
    found = cols.resources.find(
        {"tenant": tenant, "$or": [{"type": t, "id": i} for t, i in sorted(keys)]},
        {"type": 1, "id": 1, "version": 1},
        session=session,
    )
    current = {(d["type"], d["id"]): int(d["version"]) async for d in found}
    for index, op in enumerate(ops):
        key = (op.resource_type, op.id)
        now = current.get(key, 0)
        if op.in_place:
            if now == 0 or op.body is None or op.expected_version != now:
                raise VersionConflict(index, now)
            continue
        if now != op.expected_version:
            raise VersionConflict(index, now)
        current[key] = op.version  # a later op of the batch may build on this one


async def _replace_in_place(
    cols: Collections,
    tenant: str,
    index: int,
    op: WriteOp,
    position: int,
    session: AsyncClientSession | None,
) -> None:
    """Replace the body of an existing version without adding one (`WriteOp.in_place`),
    as the SQLite adapter does: the current version's document and index too. Refused
    unless the writer's view of the current version still holds."""
    key = {"tenant": tenant, "type": op.resource_type, "id": op.id}
    current = await _current_version(cols, tenant, op.resource_type, op.id, session)
    if current == 0 or op.body is None or op.expected_version != current:
        raise VersionConflict(index, current)
    # The history version first: it is the check that can still fail (a deletion has no
    # body to replace), so nothing is changed when it does.
    before = await cols.history.find_one_and_update(
        {**key, "version": op.version, "body": {"$ne": None}},
        {"$set": {"body": op.body}},
        projection={"body": 1},
        return_document=ReturnDocument.BEFORE,
        session=session,
    )
    if before is None:
        raise VersionConflict(index, current)
    # noted, with the body before, ahead of the current document's change: a held sort
    # that sees the change sees the note (search_held)
    note = {**key, "version": op.version, "seq": position, "body_before": before["body"]}
    await cols.in_place.insert_one(note, session=session)
    if op.version == current:
        fields = resource_fields(op)
        await cols.resources.update_one(
            {**key, "version": current},
            {"$set": {"body": fields["body"], "idx": fields["idx"]}},
            session=session,
        )


async def _write_current(
    cols: Collections,
    tenant: str,
    index: int,
    op: WriteOp,
    position: int,
    session: AsyncClientSession | None,
) -> None:
    fields = resource_fields(op)
    key = {"tenant": tenant, "type": op.resource_type, "id": op.id}
    if op.expected_version == 0:
        try:
            await cols.resources.insert_one({**key, **fields, "pos": position}, session=session)
        except DuplicateKeyError as exc:
            # read outside the session: the failed insert has aborted its transaction
            current = await _current_version(cols, tenant, op.resource_type, op.id, None)
            raise VersionConflict(index, current) from exc
        return
    result = await cols.resources.update_one(
        {**key, "version": op.expected_version}, {"$set": fields}, session=session
    )
    if result.matched_count != 1:
        current = await _current_version(cols, tenant, op.resource_type, op.id, None)
        raise VersionConflict(index, current)


async def apply_ops(
    cols: Collections,
    tenant: str,
    ops: Sequence[WriteOp],
    positions: Sequence[int],
    session: AsyncClientSession | None,
) -> None:
    """Apply every op, in order; raises VersionConflict naming the first stale one."""
    await _precheck(cols, tenant, ops, session)
    try:
        for index, (op, position) in enumerate(zip(ops, positions, strict=True)):
            if op.in_place:
                await _replace_in_place(cols, tenant, index, op, position, session)
                continue
            await _write_current(cols, tenant, index, op, position, session)
            if op.expected_version:
                await cols.history.update_one(
                    {
                        "tenant": tenant,
                        "type": op.resource_type,
                        "id": op.id,
                        "version": op.expected_version,
                    },
                    {"$set": {"ended": op.last_updated_us}},
                    session=session,
                )
            await cols.history.insert_one(history_document(tenant, op, position), session=session)
    except DocumentTooLarge as exc:
        raise _too_large() from exc
    except OperationFailure as exc:
        if exc.code in _TOO_LARGE_CODES:
            raise _too_large() from exc
        raise


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        "The resource and its search index exceed the 16 MiB a MongoDB document can hold"
    )
