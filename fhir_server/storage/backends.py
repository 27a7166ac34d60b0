"""Choosing the storage backend from the settings (`FHIR_STORAGE`).

The composition root and the CLI open stores only through here, so adding a backend is
one branch in each function below.
"""

from __future__ import annotations

from typing import Protocol

from fhir_server.settings import Settings
from fhir_server.storage.contracts import ResourceStore
from tenancy import TenantId, TenantStore

__all__ = [
    "ClosableTenantStore",
    "Stores",
    "mongodb_uri",
    "open_stores",
    "open_tenant_registry",
]


class ClosableTenantStore(TenantStore, Protocol):
    def close(self) -> None: ...


class Stores(Protocol):
    """A backend as the app uses it: every tenant's store, the registry, the lifetime."""

    @property
    def tenants(self) -> ClosableTenantStore: ...

    def for_tenant(self, tenant: TenantId) -> ResourceStore: ...

    async def start(self) -> None:
        """Prepare the backend (indexes, topology) before the first request."""
        ...

    def close(self) -> None:
        """Release what can be released without an event loop."""
        ...

    async def aclose(self) -> None:
        """Release everything (the MongoDB client's close is a coroutine)."""
        ...


def mongodb_uri(settings: Settings) -> str:
    """The configured MongoDB URI, or ValueError saying how to set it."""
    if settings.mongodb_uri is None or not settings.mongodb_uri.get_secret_value():
        raise ValueError("FHIR_STORAGE=mongodb needs FHIR_MONGODB_URI (or --mongodb-uri)")
    uri = settings.mongodb_uri.get_secret_value()
    if not uri.startswith(("mongodb://", "mongodb+srv://")):
        # said here without the URI, which may hold a password
        raise ValueError("FHIR_MONGODB_URI must start with mongodb:// or mongodb+srv://")
    return uri


def open_stores(settings: Settings) -> Stores:
    """The configured backend. Nothing connects yet: MongoDB clients connect lazily."""
    # Imported here so that a SQLite deployment never loads pymongo, and the reverse.
    if settings.storage == "mongodb":
        from fhir_server.storage.mongo import connect

        return connect(mongodb_uri(settings), settings.mongodb_database)
    from fhir_server.storage.sqlite import SqliteStoreProvider

    return SqliteStoreProvider(settings.data_dir, query_seconds=settings.query_seconds)


def open_tenant_registry(settings: Settings) -> ClosableTenantStore:
    """Only the tenant registry of the configured backend (for the CLI)."""
    if settings.storage == "mongodb":
        from fhir_server.storage.mongo import connect_tenants

        return connect_tenants(mongodb_uri(settings), settings.mongodb_database)
    from fhir_server.storage.sqlite import open_tenant_store

    return open_tenant_store(settings.data_dir)
