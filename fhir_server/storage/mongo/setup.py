"""`fhir-server mongo init`: indexes, roles and a look at the topology, once, by an admin.

The server also creates missing indexes at start-up, so `init` is not required to run
it; it is how an operator prepares a database with an administrative account, after
which the server can run as a user holding only the `fhirServer` role.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient

from fhir_server.storage.mongo.backend import supports_transactions
from fhir_server.storage.mongo.roles import ensure_roles
from fhir_server.storage.mongo.schema import INDEXES, ensure_indexes

__all__ = ["InitReport", "initialize", "initialize_uri"]


@dataclass(frozen=True, slots=True)
class InitReport:
    database: str
    indexes: int
    roles: list[str]
    transactions: bool


async def initialize(
    client: AsyncMongoClient[dict[str, Any]], database: str, *, roles: bool = True
) -> InitReport:
    """Create the indexes (idempotent) and, unless `roles` is False, the roles."""
    db = client.get_database(database)
    await ensure_indexes(db)
    created = await ensure_roles(db) if roles else []
    return InitReport(database, len(INDEXES), created, await supports_transactions(client))


async def initialize_uri(uri: str, database: str, *, roles: bool = True) -> InitReport:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, w="majority")
    try:
        return await initialize(client, database, roles=roles)
    finally:
        await client.close()
