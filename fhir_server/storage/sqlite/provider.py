"""Opens (once) and hands out the store of each tenant: `{data_dir}/tenants/{name}.sqlite`."""

from __future__ import annotations

import threading
from pathlib import Path

from fhir_server.storage.sqlite.resources import SqliteResourceStore
from fhir_server.storage.sqlite.tenants import SqliteTenantStore
from tenancy import TenantId

__all__ = ["SqliteStoreProvider", "open_tenant_store"]


class SqliteStoreProvider:
    """A database file per tenant: isolation by construction, and a tenant's data can be
    backed up, moved or shredded as one file."""

    def __init__(self, data_dir: Path, *, query_seconds: float | None = None) -> None:
        """`query_seconds`: how long a read query may run (None: as long as it takes)."""
        self._dir = data_dir
        self._query_seconds = query_seconds
        (data_dir / "tenants").mkdir(parents=True, exist_ok=True)
        self.tenants = open_tenant_store(data_dir)
        self._stores: dict[TenantId, SqliteResourceStore] = {}
        self._lock = threading.Lock()

    def for_tenant(self, tenant: TenantId) -> SqliteResourceStore:
        store = self._stores.get(tenant)
        if store is None:
            with self._lock:
                store = self._stores.get(tenant)
                if store is None:
                    store = SqliteResourceStore(
                        tenant_database(self._dir, tenant), query_seconds=self._query_seconds
                    )
                    self._stores[tenant] = store
        return store

    async def start(self) -> None:
        """Nothing to prepare: each tenant's database is opened (and its schema created)
        on first use."""

    async def aclose(self) -> None:
        """Close once the writes queued from this loop are durable."""
        with self._lock:
            stores = list(self._stores.values())
            self._stores.clear()
        for store in stores:
            await store.aclose()
        self.tenants.close()

    def close(self) -> None:
        with self._lock:
            for store in self._stores.values():
                store.close()
            self._stores.clear()
        self.tenants.close()


def tenant_database(data_dir: Path, tenant: TenantId) -> Path:
    """Where a tenant's database lives (made on the tenant's first use)."""
    return data_dir / "tenants" / f"{tenant}.sqlite"


def open_tenant_store(data_dir: Path) -> SqliteTenantStore:
    """The tenant registry of a data directory (created if missing)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteTenantStore(data_dir / "tenants.sqlite")
