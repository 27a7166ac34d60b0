"""An in-process stand-in for MongoDB: mongomock behind the slice of pymongo's async API
that `fhir_server.storage.mongo` uses (AsyncMongoClient, AsyncDatabase, AsyncCollection,
cursors, sessions).

It is faithful where it matters to the adapter's logic: each operation yields to the event
loop first, so concurrent writers interleave as they would against a server; documents
and filters go through BSON (so anything a server would refuse to encode fails here too);
documents over 16 MiB raise DocumentTooLarge. It is not faithful on transactions:
mongomock has no sessions, so `start_session` returns a no-op session whose
`with_transaction` just runs the callback. Atomicity across documents is proven only by
the real-server run (FHIR_TEST_MONGODB_URI).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import bson
import mongomock
from pymongo.errors import DocumentTooLarge

MAX_BSON_SIZE = 16 * 1024 * 1024

Doc = dict[str, Any]


def _checked(document: Doc) -> Doc:
    encoded = bson.encode(document)
    if len(encoded) > MAX_BSON_SIZE:
        raise DocumentTooLarge(f"BSON document too large ({len(encoded)} bytes)")
    return document


def _filter(query: Doc | None, seen: list[Any]) -> Doc:
    query = query or {}
    bson.encode(query)  # a value a server could not receive fails here as it would there
    seen.append(query)
    return query


class CursorDouble:
    def __init__(self, documents: list[Doc]) -> None:
        self._documents = documents

    async def to_list(self, length: int | None = None) -> list[Doc]:
        await asyncio.sleep(0)
        return self._documents if length is None else self._documents[:length]

    def __aiter__(self) -> AsyncIterator[Doc]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Doc]:
        await asyncio.sleep(0)
        for document in self._documents:
            yield document


class CollectionDouble:
    """The AsyncCollection methods the adapter calls; `session` is accepted and ignored."""

    def __init__(self, collection: mongomock.Collection, seen: list[Any]) -> None:
        self._c = collection
        self._seen = seen  # every filter and pipeline sent, for the injection tests

    @property
    def name(self) -> str:
        return str(self._c.name)

    async def create_index(self, keys: Any, **options: Any) -> str:
        await asyncio.sleep(0)
        return str(self._c.create_index(keys, **options))

    async def index_information(self) -> Doc:
        return dict(self._c.index_information())

    async def find_one(
        self, query: Doc | None = None, projection: Any = None, session: Any = None
    ) -> Doc | None:
        await asyncio.sleep(0)
        found = self._c.find_one(_filter(query, self._seen), projection)
        return dict(found) if found is not None else None

    def find(
        self,
        query: Doc | None = None,
        projection: Any = None,
        *,
        sort: Any = None,
        limit: int = 0,
        session: Any = None,
    ) -> CursorDouble:
        cursor = self._c.find(_filter(query, self._seen), projection)
        if sort:
            cursor = cursor.sort(sort)
        if limit:
            cursor = cursor.limit(limit)
        return CursorDouble([dict(d) for d in cursor])

    async def aggregate(self, pipeline: list[Doc], session: Any = None) -> CursorDouble:
        await asyncio.sleep(0)
        bson.encode({"pipeline": pipeline})
        self._seen.append(pipeline)
        return CursorDouble([dict(d) for d in self._c.aggregate(pipeline)])

    async def count_documents(
        self, query: Doc, limit: int | None = None, session: Any = None
    ) -> int:
        await asyncio.sleep(0)
        options = {"limit": limit} if limit else {}
        return int(self._c.count_documents(_filter(query, self._seen), **options))

    async def insert_one(self, document: Doc, session: Any = None) -> Any:
        await asyncio.sleep(0)
        return self._c.insert_one(_checked(document))

    async def update_one(self, query: Doc, update: Doc, session: Any = None, **kw: Any) -> Any:
        await asyncio.sleep(0)
        _checked(update)
        self._seen.append(update)
        return self._c.update_one(_filter(query, self._seen), update, **kw)

    async def find_one_and_update(self, query: Doc, update: Doc, **options: Any) -> Doc | None:
        await asyncio.sleep(0)
        options.pop("session", None)
        found = self._c.find_one_and_update(_filter(query, self._seen), update, **options)
        return dict(found) if found is not None else None

    async def drop(self) -> None:
        self._c.drop()


class DatabaseDouble:
    def __init__(self, database: mongomock.Database, client: MongoDouble) -> None:
        self._db = database
        self._client = client

    @property
    def name(self) -> str:
        return str(self._db.name)

    def get_collection(self, name: str, **options: Any) -> CollectionDouble:
        return CollectionDouble(self._db.get_collection(name), self._client.sent)

    def __getitem__(self, name: str) -> CollectionDouble:
        return self.get_collection(name)

    async def command(self, command: str, value: Any = 1, **fields: Any) -> Doc:
        """`hello` answers the configured topology; role commands are recorded."""
        await asyncio.sleep(0)
        if command == "hello":
            return self._client.hello()
        roles = self._client.roles.setdefault(self.name, {})
        if command == "rolesInfo":
            return {"roles": [{"role": value}] if value in roles else [], "ok": 1}
        if command in ("createRole", "updateRole"):
            if (command == "createRole") == (value in roles):
                raise RuntimeError(f"{command} {value}: role exists={value in roles}")
            roles[value] = fields
            return {"ok": 1}
        raise NotImplementedError(f"command {command} is not part of the double")


class SessionDouble:
    """No transaction at all: `with_transaction` runs the callback once, unguarded."""

    in_transaction = False

    async def __aenter__(self) -> SessionDouble:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def with_transaction(
        self, callback: Callable[[SessionDouble], Awaitable[Any]], **options: Any
    ) -> Any:
        return await callback(self)

    async def end_session(self) -> None:
        return None


class MongoDouble:
    """AsyncMongoClient's surface over one mongomock server. `replica_set=False` makes
    `hello` answer as a standalone server (no transactions)."""

    def __init__(self, *, replica_set: bool = True) -> None:
        self.sync = mongomock.MongoClient()  # what the synchronous tenant registry uses
        self.replica_set = replica_set
        self.roles: dict[str, dict[str, Doc]] = {}
        self.sent: list[Any] = []  # every filter, update and pipeline the adapter sent
        self.closed = False

    def hello(self) -> Doc:
        answer: Doc = {"isWritablePrimary": True, "maxBsonObjectSize": MAX_BSON_SIZE, "ok": 1}
        if self.replica_set:
            answer["setName"] = "rs0"
        return answer

    def get_database(self, name: str, **options: Any) -> DatabaseDouble:
        return DatabaseDouble(self.sync.get_database(name), self)

    def __getitem__(self, name: str) -> DatabaseDouble:
        return self.get_database(name)

    @property
    def admin(self) -> DatabaseDouble:
        return self.get_database("admin")

    def start_session(self, **options: Any) -> SessionDouble:
        return SessionDouble()

    async def close(self) -> None:
        self.closed = True
