"""The storage backends every contract test (and, through `tests/conftest.py`, every API
test) runs against.

- `sqlite`: the embedded store, in the test's temporary directory.
- `mongodb`: the MongoDB adapter over the in-process double (`tests/mongo_double.py`).
- `mongodb-server`: the same adapter on a real server, when `FHIR_TEST_MONGODB_URI`
  names one (a replica set proves transactions too); each test gets its own database,
  dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fhir_server.storage.backends import Stores
from fhir_server.storage.contracts import ResourceStore
from fhir_server.storage.mongo import MongoStoreProvider, MongoTenantStore, connect
from fhir_server.storage.sqlite import SqliteStoreProvider
from tenancy import TenantId
from tests.mongo_double import MongoDouble

MONGODB_URI = os.environ.get("FHIR_TEST_MONGODB_URI")
BACKENDS = ["sqlite", "mongodb", *(["mongodb-server"] if MONGODB_URI else [])]
TEST_TENANT = TenantId("acme")


def double_provider(
    double: MongoDouble | None = None, database: str = "fhir"
) -> MongoStoreProvider:
    """The MongoDB adapter over a fresh (or the given) in-process double."""
    double = double or MongoDouble()
    return MongoStoreProvider(double, database, MongoTenantStore(double.sync, database))  # type: ignore[arg-type]


@asynccontextmanager
async def open_provider(backend: str, tmp_path: Path) -> AsyncIterator[Stores]:
    if backend == "sqlite":
        sqlite = SqliteStoreProvider(tmp_path / "data")
        try:
            yield sqlite
        finally:
            await sqlite.aclose()
        return
    if backend == "mongodb":
        provider = double_provider()
        try:
            yield provider
        finally:
            await provider.aclose()
        return
    if backend == "mongodb-server" and MONGODB_URI:
        import pymongo

        database = f"fhir_test_{uuid.uuid4().hex[:12]}"
        provider = connect(MONGODB_URI, database)
        try:
            yield provider
        finally:
            await provider.aclose()
            with pymongo.MongoClient(MONGODB_URI) as admin:
                admin.drop_database(database)
        return
    raise ValueError(backend)


@asynccontextmanager
async def open_store(backend: str, tmp_path: Path) -> AsyncIterator[ResourceStore]:
    async with open_provider(backend, tmp_path) as provider:
        yield provider.for_tenant(TEST_TENANT)
