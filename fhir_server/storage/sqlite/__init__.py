"""The embedded SQLite backend: one database file per tenant, WAL, group commit."""

from fhir_server.storage.sqlite.provider import SqliteStoreProvider, open_tenant_store
from fhir_server.storage.sqlite.resources import SqliteResourceStore
from fhir_server.storage.sqlite.tenants import SqliteTenantStore

__all__ = ["SqliteResourceStore", "SqliteStoreProvider", "SqliteTenantStore", "open_tenant_store"]
