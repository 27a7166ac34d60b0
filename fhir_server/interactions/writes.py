"""Shared steps of every write: validate, stamp the server's meta, index, compare-and-swap.

Versions are numbered 1, 2, 3... per resource; `meta.versionId` and `meta.lastUpdated` are
always the server's (http://hl7.org/fhir/R4/resource.html#Meta), whatever the client sent.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
import uuid
from dataclasses import replace
from typing import Any

from fhir_server.errors import BadRequest, InvalidResource, PreconditionFailed
from fhir_server.instants import format_instant, now_us
from fhir_server.interactions.context import Context
from fhir_server.resource_json import dump, with_server_meta
from fhir_server.search.entries import IndexEntry, ReferenceEntry
from fhir_server.search.normalize import parse_reference
from fhir_server.storage.contracts import StoredVersion, VersionConflict, WriteOp

__all__ = [
    "index_entries",
    "localized",
    "new_id",
    "next_timestamp",
    "prepare_delete",
    "prepare_put",
    "try_commit",
    "validate_body",
]


class _RandomPool:
    """Random bytes fetched from the OS a few kilobytes at a time: one getrandom() call per
    256 ids instead of one per id (each call costs tens of microseconds on a VM)."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._buffer = b""
        self._lock = threading.Lock()

    def clear(self) -> None:
        self._buffer = b""

    def take(self, count: int) -> bytes:
        with self._lock:
            if len(self._buffer) < count:
                self._buffer = os.urandom(self._size)
            chunk, self._buffer = self._buffer[:count], self._buffer[count:]
        return chunk


_RANDOM = _RandomPool()
# A forked child must never reuse its parent's buffered bytes (that would repeat ids).
os.register_at_fork(after_in_child=_RANDOM.clear)


def new_id() -> str:
    """A server-assigned id: a version 7 UUID (RFC 9562), the creation time in milliseconds
    followed by 74 random bits, so unguessable and unique across workers. Time-ordered ids
    land at the end of the id index instead of on a random page of it: a create dirties
    fewer pages (measured: 15 % less writer time than random version 4 ids)."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(_RANDOM.take(10))
    value = value & ~_VERSION_AND_VARIANT_BITS | _VERSION_7_RFC_VARIANT
    return str(uuid.UUID(int=value))


# Bits 76-79 hold the UUID's version, 62-63 its variant (RFC 9562 section 4).
_VERSION_AND_VARIANT_BITS = 0xF << 76 | 0x3 << 62
_VERSION_7_RFC_VARIANT = 0x7 << 76 | 0x2 << 62


def next_timestamp(current: StoredVersion | None) -> int:
    """Now, but never at or before the current version's time (clocks can step back)."""
    now = now_us()
    if current is not None and now <= current.last_updated_us:
        return current.last_updated_us + 1
    return now


def validate_body(ctx: Context, resource: dict[str, Any], resource_type: str) -> None:
    """The body must be a valid R4 resource of the type the URL names."""
    body_type = resource.get("resourceType")
    if body_type != resource_type:
        raise BadRequest(
            f"The body's resourceType '{str(body_type)[:80]}' does not match the URL's "
            f"'{resource_type}'",
            ("resourceType",),
        )
    issues = ctx.services.validate(resource)
    if issues:
        first, rest = issues[0], issues[1:]
        raise InvalidResource(first.diagnostics, first.expression, extra_issues=list(rest))


def prepare_put(
    ctx: Context,
    resource: dict[str, Any],
    *,
    resource_type: str,
    resource_id: str,
    current: StoredVersion | None,
    method: str,
) -> tuple[WriteOp, dict[str, Any]]:
    """The write op storing `resource` as the next version after `current`."""
    version = (current.version if current else 0) + 1
    updated = next_timestamp(current)
    stamped = with_server_meta(
        resource,
        resource_id=resource_id,
        version_id=str(version),
        last_updated=format_instant(updated),
    )
    op = WriteOp(
        resource_type=resource_type,
        id=resource_id,
        expected_version=current.version if current else 0,
        version=version,
        last_updated_us=updated,
        method=method,
        body=dump(stamped),
        index=index_entries(ctx, stamped),
    )
    return op, stamped


def prepare_delete(resource_type: str, resource_id: str, current: StoredVersion) -> WriteOp:
    """The write op recording a deletion as the next version."""
    return WriteOp(
        resource_type=resource_type,
        id=resource_id,
        expected_version=current.version,
        version=current.version + 1,
        last_updated_us=next_timestamp(current),
        method="DELETE",
        body=None,
    )


async def try_commit(ctx: Context, op: WriteOp, expected: int | None) -> bool:
    """Commit one write; False when a concurrent writer got there first and the caller
    should read again and retry. With `If-Match` (`expected`) there is no retry: the
    version the client named is gone, which is a 412 (http.html#concurrency)."""
    try:
        await ctx.store.commit([op])
    except VersionConflict as exc:
        if expected is not None:
            raise PreconditionFailed(
                f"{op.resource_type}/{op.id} was changed concurrently; version {expected} is "
                "no longer current"
            ) from exc
        return False
    return True


# Tries of a write whose compare-and-swap keeps losing to concurrent writers of the same
# resource (no If-Match: the client asked for no particular version), with a pause between.
WRITE_ATTEMPTS = 16


async def contention_pause(attempt: int) -> None:
    """Before trying again a write lost to a concurrent writer: a random pause, longer each
    time (up to 50 ms), so that writers racing for one resource stop colliding in step.
    Twenty writers of one Patient lost almost half their writes after 8 tries without it."""
    await asyncio.sleep(random.uniform(0, min(0.001 * 2**attempt, 0.05)))


def index_entries(ctx: Context, resource: dict[str, Any]) -> list[IndexEntry]:
    """The resource's search index entries, with references written as this tenant's own
    absolute URLs (`{base}/Patient/123`) indexed as the local references they are. The
    indexer never takes an absolute URL for a local resource (another server's
    Patient/123 is not ours); only here is the tenant's base known."""
    return localized(ctx.indexer.index(resource), ctx.request.base_url)


def localized(entries: list[IndexEntry], tenant_base: str) -> list[IndexEntry]:
    """`entries` with references under `tenant_base` made local."""
    prefix = tenant_base.rstrip("/") + "/"
    return [_localized(entry, prefix) for entry in entries]


def _localized(entry: IndexEntry, prefix: str) -> IndexEntry:
    if not isinstance(entry, ReferenceEntry) or entry.target_id is not None:
        return entry
    if entry.url is None or not entry.url.startswith(prefix):
        return entry
    local = parse_reference(entry.url[len(prefix) :])
    if local is None or local.target_type is None or local.target_id is None:
        return entry
    return replace(entry, target_type=local.target_type, target_id=local.target_id)
