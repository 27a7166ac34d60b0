"""The MongoDB backend, through pymongo's async API (docs/mongodb.md).

Only this package imports pymongo, and it holds no FHIR rules: it stores what the
interactions hand it and compiles the backend-free search plan into MongoDB queries.
"""

from fhir_server.storage.mongo.provider import MongoStoreProvider, connect, connect_tenants
from fhir_server.storage.mongo.resources import MongoResourceStore
from fhir_server.storage.mongo.tenants import MongoTenantStore

__all__ = [
    "MongoResourceStore",
    "MongoStoreProvider",
    "MongoTenantStore",
    "connect",
    "connect_tenants",
]
