"""What the stores of every tenant share: the client, the database and start-up state."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.write_concern import WriteConcern

from fhir_server.storage.mongo.schema import (
    COUNTERS,
    HISTORY,
    IN_PLACE,
    RESOURCES,
    SETTINGS,
    ensure_indexes,
)
from fhir_server.storage.mongo.writes import Collections

__all__ = ["MongoBackend"]


class MongoBackend:
    """The client is injected: production passes an `AsyncMongoClient`, tests a double.

    Writes use write concern `majority`: an acknowledged write survives the loss of the
    primary. `ready()` runs once per process, before the first storage call: it creates
    the indexes (idempotent) and asks the server whether it is a replica set.
    """

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], database: str) -> None:
        self.client = client
        self.db = client.get_database(database, write_concern=WriteConcern("majority"))
        self.collections = Collections(
            self.db.get_collection(RESOURCES),
            self.db.get_collection(HISTORY),
            self.db.get_collection(COUNTERS),
            self.db.get_collection(SETTINGS),
            self.db.get_collection(IN_PLACE),
        )
        self.transactions = False
        self._ready = False
        self._lock: asyncio.Lock | None = None

    async def ready(self) -> None:
        if self._ready:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._ready:
                return
            await ensure_indexes(self.db)
            self.transactions = await supports_transactions(self.client)
            self._ready = True


async def supports_transactions(client: AsyncMongoClient[dict[str, Any]]) -> bool:
    """Multi-document transactions need a replica set (`setName` in `hello`) or a
    sharded cluster (mongos answers `msg: "isdbgrid"`); a standalone server has neither."""
    hello = await client.admin.command("hello")
    return "setName" in hello or hello.get("msg") == "isdbgrid"
