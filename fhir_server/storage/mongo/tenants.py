"""The MongoDB tenant registry: the `tenants` collection, `{_id: name, created}`.

`tenancy.TenantStore` is synchronous (the CLI and the composition root call it before any
event loop runs, and the pipeline asks it once per tenant, then caches the answer), so
this store takes pymongo's synchronous client; every other store uses the async one.
"""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError
from pymongo.write_concern import WriteConcern

from fhir_server.storage.mongo.schema import TENANTS
from tenancy import Tenant, TenantId

__all__ = ["MongoTenantStore"]


class MongoTenantStore:
    """Implements `tenancy.TenantStore`; closes the client it is given."""

    def __init__(self, client: MongoClient[dict[str, Any]], database: str) -> None:
        self._client = client
        db = client.get_database(database, write_concern=WriteConcern("majority"))
        self._tenants = db.get_collection(TENANTS)

    def create(self, tenant: TenantId, created: str) -> bool:
        try:
            self._tenants.insert_one({"_id": str(tenant), "created": created})
        except DuplicateKeyError:
            return False
        return True

    def get(self, tenant: TenantId) -> Tenant | None:
        doc = self._tenants.find_one({"_id": str(tenant)})
        return Tenant(TenantId(doc["_id"]), str(doc["created"])) if doc else None

    def list(self) -> list[Tenant]:
        docs = self._tenants.find({}, sort=[("_id", 1)])
        return [Tenant(TenantId(d["_id"]), str(d["created"])) for d in docs]

    def close(self) -> None:
        self._client.close()
