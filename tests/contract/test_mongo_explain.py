"""On a real MongoDB server: every query the benchmark searches send uses an index.

For each query of the benchmark set (shared with the SQLite EXPLAIN checks), the search
runs once through a recording wrapper of the `resources` collection; then every `find`,
`aggregate` and count it sent is explained, and the winning plan must read an index
(IXSCAN and its kin) and never scan the collection. Runs only when FHIR_TEST_MONGODB_URI
names a server: the in-process double has no query planner.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from fhir_server.search.query import QueryOptions, parse_search
from fhir_server.search.registry import default_registry
from fhir_server.settings import Settings
from fhir_server.storage.mongo import MongoStoreProvider
from fhir_server.storage.mongo.search_page import search_page
from fhir_server.storage.mongo.writes import Collections
from fhir_server.web.app import create_app
from tenancy import TenantId
from tests.api.search.dataset import load
from tests.api.search.test_query_plans import BENCHMARK_QUERIES
from tests.contract.backends import MONGODB_URI, open_provider

pytestmark = pytest.mark.skipif(
    not MONGODB_URI, reason="FHIR_TEST_MONGODB_URI names no MongoDB server to explain on"
)

TENANT = "acme"
INDEX_STAGES = {"IXSCAN", "EXPRESS_IXSCAN", "COUNT_SCAN", "DISTINCT_SCAN", "IDHACK"}


class Recorder:
    """The `resources` collection, noting each query before sending it on."""

    def __init__(self, collection: Any) -> None:
        self._c = collection
        self.calls: list[dict[str, Any]] = []

    def find(self, query: Any, projection: Any = None, **options: Any) -> Any:
        command = {"find": self._c.name, "filter": query}
        if options.get("sort"):
            command["sort"] = dict(options["sort"])
        self.calls.append(command)
        return self._c.find(query, projection, **options)

    async def aggregate(self, pipeline: list[Any], **options: Any) -> Any:
        self.calls.append({"aggregate": self._c.name, "pipeline": pipeline, "cursor": {}})
        return await self._c.aggregate(pipeline, **options)

    async def count_documents(self, query: Any, **options: Any) -> int:
        pipeline = [{"$match": query}, {"$group": {"_id": 1, "n": {"$sum": 1}}}]
        self.calls.append({"aggregate": self._c.name, "pipeline": pipeline, "cursor": {}})
        return int(await self._c.count_documents(query, **options))


def recording(provider: MongoStoreProvider, recorder: Recorder) -> Collections:
    """The backend's collections with `resources` read through `recorder`."""
    cols = provider._backend.collections
    return Collections(
        recorder,  # type: ignore[arg-type]
        cols.history,
        cols.counters,
        cols.settings,
        cols.in_place,
    )


def winning_stages(explained: Any, inside: bool = False) -> list[str]:
    """Every `stage` named in any winning plan of an explain() answer."""
    found: list[str] = []
    if isinstance(explained, dict):
        for key, value in explained.items():
            if key == "stage" and inside and isinstance(value, str):
                found.append(value)
            found += winning_stages(value, inside or key in ("winningPlan", "queryPlan"))
    elif isinstance(explained, list):
        for item in explained:
            found += winning_stages(item, inside)
    return found


@pytest.fixture
async def loaded(tmp_path: Path) -> AsyncIterator[MongoStoreProvider]:
    async with open_provider("mongodb-server", tmp_path) as provider:
        assert isinstance(provider, MongoStoreProvider)
        app = create_app(Settings(data_dir=tmp_path, storage="mongodb"), provider)
        app.stores.tenants.create(TenantId(TENANT), "2026-01-01T00:00:00Z")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=f"http://testserver/fhir/{TENANT}/"
        ) as client:
            await load(client)
        yield provider


@pytest.mark.parametrize("query", BENCHMARK_QUERIES)
async def test_benchmark_queries_use_indexes(loaded: MongoStoreProvider, query: str) -> None:
    rtype, _, text = query.partition("?")
    options = QueryOptions(20, 1000, strict=True, base_url="http://testserver/fhir/acme")
    plan = parse_search(rtype, parse_qsl(text), default_registry(), options)
    backend = loaded._backend
    recorder = Recorder(backend.collections.resources)
    page = await search_page(TENANT, recording(loaded, recorder), plan, None)
    assert page.matches or page.total == 0
    assert recorder.calls
    for command in recorder.calls:
        explained = await backend.db.command({"explain": command, "verbosity": "queryPlanner"})
        stages = winning_stages(explained)
        assert stages, (query, command)
        assert "COLLSCAN" not in stages, (query, command, stages)
        assert INDEX_STAGES & set(stages), (query, command, stages)
