"""Hands out each tenant's MongoDB store; all of them share one client and database."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient, MongoClient

from fhir_server.storage.mongo.backend import MongoBackend
from fhir_server.storage.mongo.resources import MongoResourceStore
from fhir_server.storage.mongo.tenants import MongoTenantStore
from tenancy import TenantId

__all__ = ["MongoStoreProvider", "connect", "connect_tenants"]

_OPTIONS: dict[str, Any] = {"w": "majority", "appname": "fhir-server"}


class MongoStoreProvider:
    """Shared collections for every tenant, each document tagged with its tenant
    (docs/mongodb.md explains the choice over a database per tenant).

    The clients are injected: `connect` builds the real ones from a URI; tests pass an
    in-process double. The provider owns them and closes them.
    """

    def __init__(
        self,
        client: AsyncMongoClient[dict[str, Any]],
        database: str,
        tenants: MongoTenantStore,
    ) -> None:
        self._backend = MongoBackend(client, database)
        self.tenants = tenants
        self._stores: dict[TenantId, MongoResourceStore] = {}

    def for_tenant(self, tenant: TenantId) -> MongoResourceStore:
        # Stores are stateless views; caching them only saves an allocation per request.
        store = self._stores.get(tenant)
        if store is None:
            store = self._stores[tenant] = MongoResourceStore(self._backend, tenant)
        return store

    async def start(self) -> None:
        """Create the indexes and learn the topology now rather than on first use."""
        await self._backend.ready()

    def close(self) -> None:
        """Close what can be closed without an event loop (the tenant registry)."""
        self.tenants.close()

    async def aclose(self) -> None:
        self.close()
        await self._backend.client.close()


def connect(uri: str, database: str) -> MongoStoreProvider:
    """The provider for a MongoDB deployment (`mongodb://` or `mongodb+srv://` URI).

    Write concern `majority` everywhere: an acknowledged write survives a failover.
    Creating clients does not connect; the first storage call (or `start`) does.
    """
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, **_OPTIONS)
    return MongoStoreProvider(client, database, connect_tenants(uri, database))


def connect_tenants(uri: str, database: str) -> MongoTenantStore:
    """The tenant registry alone, on pymongo's synchronous client (see `tenants`)."""
    # The registry is read synchronously, on the event loop (once per tenant and
    # process): wait at most 5 s for a server, not pymongo's default 30.
    client: MongoClient[dict[str, Any]] = MongoClient(
        uri, serverSelectionTimeoutMS=5_000, **_OPTIONS
    )
    return MongoTenantStore(client, database)
