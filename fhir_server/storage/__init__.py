"""Storage: the contracts every backend implements, and the backends themselves."""

from fhir_server.storage.contracts import (
    HistoryPage,
    HistoryQuery,
    ResourceStore,
    SearchPage,
    StoredVersion,
    StoreProvider,
    VersionConflict,
    WriteOp,
)

__all__ = [
    "HistoryPage",
    "HistoryQuery",
    "ResourceStore",
    "SearchPage",
    "StoreProvider",
    "StoredVersion",
    "VersionConflict",
    "WriteOp",
]
