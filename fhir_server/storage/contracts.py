"""Storage contracts: what every backend provides, free of FHIR rules.

A `ResourceStore` is bound to exactly one tenant when it is handed out by a
`StoreProvider`; no method takes a tenant, so no call can reach another tenant's data.
Writes are compare-and-swap: the caller says which version it based its change on, and the
store refuses (`VersionConflict`) if another writer got there first. The FHIR rules
(version numbering, meta, conditional logic) live above, in `fhir_server.interactions`.

The shared contract suite in `tests/contract/` runs against every implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from fhir_server.search.entries import IndexEntry
from fhir_server.search.plan import Condition, Cursor, IncludeSpec, SearchPlan
from tenancy import TenantId

__all__ = [
    "PAST_PLACES_LIMIT",
    "PAST_SCAN_LIMIT",
    "HistoryPage",
    "HistoryQuery",
    "InvalidCursor",
    "PagingExpired",
    "PastIndex",
    "QueryTooCostly",
    "ResourceStore",
    "SearchPage",
    "StoreProvider",
    "StoredVersion",
    "TransactionsUnsupported",
    "VersionConflict",
    "WriteOp",
]


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One version of a resource as stored. `body` is None for a deletion."""

    resource_type: str
    id: str
    version: int
    last_updated_us: int
    method: str  # POST, PUT, PATCH or DELETE: how this version came to be
    body: bytes | None
    position: int = 0  # the store's stable ordering key (search cursor, history cursor)

    @property
    def deleted(self) -> bool:
        return self.body is None


@dataclass(frozen=True, slots=True)
class WriteOp:
    """Write one new version. `expected_version` is the current version the writer saw
    (0 when the resource has never existed); the store refuses if it is no longer current.

    With `in_place`, no version is added: the body of the existing `version` is replaced
    (`$meta-add`/`$meta-delete` change only meta, which R4 says creates no new version).
    When `version` is the current one, `expected_version` must equal it and the index is
    replaced too; an older version's history body is replaced alone. `last_updated_us` and
    `method` are then ignored. A missing version raises VersionConflict."""

    resource_type: str
    id: str
    expected_version: int
    version: int
    last_updated_us: int
    method: str
    body: bytes | None
    index: Sequence[IndexEntry] = ()
    in_place: bool = False
    # A conditional create's criteria: the op is refused (VersionConflict, current version
    # 0) if a current resource matches them when it is applied. SQLite checks inside the
    # serialized write, so two racing conditional creates make one resource; MongoDB
    # checks just before writing (concurrent transactions there take no predicate lock).
    unless_matched: SearchPlan | None = None


class InvalidCursor(ValueError):
    """A search cursor that does not fit the plan's result order (forged or stale)."""


class QueryTooCostly(Exception):
    """A read query stopped after running longer than one request may take."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"stopped after {seconds:g} s")
        self.seconds = seconds


class PagingExpired(Exception):
    """A later page of a walk in value order whose resources changed too much since its
    first page to place each where it stood then: the search has to start again."""


# A later page of a walk in value order places at most this many resources changed since
# its first page (among those matching now: each costs indexing its version of then)...
PAST_PLACES_LIMIT = 1000
# ...found by reading at most this many changes since (updates, deletions, in-place
# writes of the types it walks) and, for a chain, this many resources along changed paths.
PAST_SCAN_LIMIT = 20_000


# The index entries of a version (its resource as it was then), computed with the
# tenant's search parameters: a store pages through resources in value order by where
# they stood when the walk began (docs/search.md, "Paging that holds still"), and the
# entries of an older version are not kept.
PastIndex = Callable[[StoredVersion], Sequence[IndexEntry]]


class TransactionsUnsupported(Exception):
    """The backend cannot apply several ops atomically (a standalone MongoDB server), so
    it refused a multi-op `commit` without applying any of it. Check
    `ResourceStore.supports_transactions()` first to refuse such requests up front."""


class VersionConflict(Exception):
    """A write lost a compare-and-swap race; `op_index` says which op of the batch."""

    def __init__(self, op_index: int, current_version: int) -> None:
        super().__init__(f"op {op_index}: current version is {current_version}")
        self.op_index = op_index
        self.current_version = current_version

    def __reduce__(self) -> tuple[type[VersionConflict], tuple[int, int]]:
        # Rebuilt from its fields when pickled (Exception's default uses the message only).
        return (VersionConflict, (self.op_index, self.current_version))


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """History at instance (type and id), type (type only) or system level (neither)."""

    resource_type: str | None = None
    id: str | None = None
    since_us: int | None = None  # versions updated at or after
    at_low_us: int | None = None  # versions current at some point in [at_low, at_high]
    at_high_us: int | None = None
    count: int = 20
    before_position: int | None = None  # newest first: the page starts below this position


@dataclass(frozen=True, slots=True)
class HistoryPage:
    versions: list[StoredVersion]
    total: int
    has_more: bool
    # Positions of the page's versions that brought a deleted resource back (a PUT of a
    # deleted id, whose answer was 201 Created): the version before each is a deletion.
    revivals: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class SearchPage:
    """Current, non-deleted resources matching a plan, in the plan's result order."""

    matches: list[StoredVersion]
    total: int | None
    has_next: bool
    has_previous: bool
    extra: list[StoredVersion] = field(default_factory=list)  # `_include`d, `_revinclude`d
    # Where each match sits in the result order; the next page starts after the last one's,
    # the previous one before the first's (the direction is set by the caller).
    cursors: list[Cursor] = field(default_factory=list)


class ResourceStore(Protocol):
    """Resources, their history and their search index, for one tenant."""

    async def read(self, resource_type: str, resource_id: str) -> StoredVersion | None:
        """The current version (possibly a deletion), or None if it never existed."""
        ...

    async def vread(
        self, resource_type: str, resource_id: str, version: int
    ) -> StoredVersion | None: ...

    async def commit(self, ops: Sequence[WriteOp]) -> None:
        """Apply all ops atomically and durably, or none (raising VersionConflict, or
        TransactionsUnsupported for several ops on a backend without transactions)."""
        ...

    async def supports_transactions(self) -> bool:
        """Whether `commit` can apply several ops atomically (SQLite: always; MongoDB: on
        a replica set or sharded cluster, not on a standalone server)."""
        ...

    async def history(self, query: HistoryQuery) -> HistoryPage: ...

    async def search(self, plan: SearchPlan, past_index: PastIndex | None = None) -> SearchPage:
        """One page of matches (`SearchPage.extra` stays empty: includes are `include`).

        With `past_index`, a walk in value order holds still: its first page's cursors note
        the moment it began, and later pages serve each resource where it stood then, so
        a resource updated meanwhile is neither served twice nor skipped (PagingExpired
        when too many changed). Without it such a walk follows the current values."""
        ...

    async def include(
        self, spec: IncludeSpec, sources: Sequence[StoredVersion]
    ) -> list[StoredVersion]:
        """One step of `_include` (the current resources `sources` refer to through
        `spec.param`) or `_revinclude` (the current `spec.source_type` resources that
        refer to `sources` through it); the iteration and its limits are the caller's."""
        ...

    async def canonicals(
        self, resource_type: str, param: str, condition: Condition, limit: int
    ) -> list[tuple[str, str | None]]:
        """The distinct canonicals, (url, version or None), that the `param` references of
        the current `resource_type` resources satisfying `condition` hold: at most `limit`,
        in no set order. A canonical is a url-valued reference entry with no target id."""
        ...

    async def replace_index(
        self, resource_type: str, resource_id: str, version: int, index: Sequence[IndexEntry]
    ) -> bool:
        """Replace the index entries of the current version (a reindex); False, changing
        nothing, when `version` is no longer current."""
        ...

    async def read_setting(self, name: str) -> bytes | None:
        """A tenant-level setting (e.g. the active custom search parameters), or None."""
        ...

    async def write_setting(self, name: str, value: bytes) -> None: ...


class StoreProvider(Protocol):
    """Hands out the store bound to one tenant; owns their lifetimes."""

    def for_tenant(self, tenant: TenantId) -> ResourceStore: ...

    def close(self) -> None: ...
