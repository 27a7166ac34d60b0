"""Backend parity: SQLite and MongoDB must answer every search alike.

Both backends take the same edge-case resources, updates and deletes (parity_data.py)
through the HTTP API; then each search of parity_data.QUERIES runs on both, following
every next link. The answers must agree: the final status, the matches (as a set, or in
order under `_sort`), the first `total`, the included resources; no 500 on either side.
A difference is a bug in one of them (SQLite is only the first column, not the reference:
the FHIR specification decides which answer is right).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhir_server.settings import Settings
from fhir_server.web.app import FhirApp, create_app
from tenancy import TenantId
from tests.conftest import TENANT
from tests.contract.backends import BACKENDS, open_provider
from tests.contract.parity_data import MUTATIONS, QUERIES, RESOURCES

FHIR_JSON = {"Content-Type": "application/fhir+json"}
MAX_PAGES = 100
SHOWN = 6  # ids shown per side in a difference


@dataclass
class Answer:
    """What one backend answered to a search, over all its pages."""

    statuses: list[int] = field(default_factory=list)
    matches: list[str] = field(default_factory=list)
    included: set[str] = field(default_factory=set)
    totals: list[int] = field(default_factory=list)
    outcomes: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.statuses[-1] == 200


@dataclass
class Backend:
    name: str
    client: httpx.AsyncClient


@pytest.fixture(params=BACKENDS[1:])
async def pair(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path
) -> AsyncIterator[tuple[Backend, Backend]]:
    """SQLite and another backend, built as tests/conftest.py builds `app`, both loaded
    with the parity data."""
    async with AsyncExitStack() as stack:
        stores = await stack.enter_async_context(open_provider(request.param, tmp_path))
        apps: list[tuple[str, FhirApp]] = [
            ("sqlite", create_app(settings)),
            (request.param, create_app(settings.model_copy(update={"storage": "mongodb"}), stores)),
        ]
        loaded = []
        for name, app in apps:
            app.stores.tenants.create(TenantId(TENANT), "2026-01-01T00:00:00Z")
            stack.push_async_callback(app.aclose)
            # FhirApp types its ASGI scope as a dict, httpx as a MutableMapping.
            transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
            client = httpx.AsyncClient(
                transport=transport,
                base_url=f"http://testserver/fhir/{TENANT}/",
            )
            backend = Backend(name, await stack.enter_async_context(client))
            await load(backend.client)
            loaded.append(backend)
        yield loaded[0], loaded[1]


async def load(client: httpx.AsyncClient) -> None:
    for text in RESOURCES:
        resource = json.loads(text)
        url = f"{resource['resourceType']}/{resource['id']}"
        response = await client.put(url, content=text.encode(), headers=FHIR_JSON)
        assert response.status_code in (200, 201), (url, response.text)
    for method, url, body in MUTATIONS:
        content = body.encode() if body is not None else None
        response = await client.request(method, url, content=content, headers=FHIR_JSON)
        assert response.status_code < 300, (method, url, response.text)


async def fetch_all(client: httpx.AsyncClient, query: str) -> Answer:
    """The search's answer, following every next link (up to MAX_PAGES pages)."""
    answer = Answer()
    url: str | None = query
    while url is not None and len(answer.statuses) < MAX_PAGES:
        response = await client.get(url)
        answer.statuses.append(response.status_code)
        if response.status_code != 200:
            answer.error = response.text[:300]
            break
        body: dict[str, Any] = response.json()
        if body.get("resourceType") != "Bundle":
            answer.matches.append(f"{body.get('resourceType')}/{body.get('id')}")
            break
        if "total" in body:
            answer.totals.append(body["total"])
        for entry in body.get("entry", []):
            resource = entry.get("resource", {})
            if resource.get("resourceType") == "OperationOutcome":
                answer.outcomes += 1
                continue
            ref = f"{resource.get('resourceType')}/{resource.get('id')}"
            if entry.get("search", {}).get("mode") == "match":
                answer.matches.append(ref)
            else:
                answer.included.add(ref)
        links = body.get("link", [])
        url = next((link["url"] for link in links if link["relation"] == "next"), None)
    return answer


def only(a: set[str], b: set[str]) -> str:
    return f"{sorted(a - b)[:SHOWN]} / {sorted(b - a)[:SHOWN]}"


def differences(query: str, a: Answer, b: Answer) -> list[str]:
    """How the two answers differ, each in a line (a's side first)."""
    found = [f"500: {x.error}" for x in (a, b) if 500 in x.statuses]
    if (a.statuses[0], a.statuses[-1]) != (b.statuses[0], b.statuses[-1]):
        return [*found, f"statuses {a.statuses} / {b.statuses}"]
    if len(a.statuses) >= MAX_PAGES or len(b.statuses) >= MAX_PAGES:
        found.append(f"pages {len(a.statuses)} / {len(b.statuses)} (a next-link loop?)")
    if "_sort=" in query and a.matches != b.matches:
        if sorted(a.matches) == sorted(b.matches):
            k = next(k for k, (x, y) in enumerate(zip(a.matches, b.matches, strict=True)) if x != y)
            found.append(f"order from {k}: {a.matches[k : k + 4]} / {b.matches[k : k + 4]}")
        else:
            found.append(f"sorted matches, only in each: {only(set(a.matches), set(b.matches))}")
    elif set(a.matches) != set(b.matches):
        found.append(f"matches only in each: {only(set(a.matches), set(b.matches))}")
    repeats = [len(x.matches) - len(set(x.matches)) for x in (a, b)]
    if any(repeats):  # nothing changes while paging here: a repeat is a paging bug
        found.append(f"matches repeated across pages {repeats[0]} / {repeats[1]}")
    if a.included != b.included:
        found.append(f"included only in each: {only(a.included, b.included)}")
    if a.totals[:1] != b.totals[:1]:
        found.append(f"total {a.totals[:1]} / {b.totals[:1]}")
    if bool(a.outcomes) != bool(b.outcomes):
        found.append(f"OperationOutcome entries {a.outcomes} / {b.outcomes}")
    return found


async def test_every_search_is_answered_alike(pair: tuple[Backend, Backend]) -> None:
    first, second = pair
    report, answered = [], 0
    for query in QUERIES:
        a = await fetch_all(first.client, query)
        b = await fetch_all(second.client, query)
        if a.ok and a.matches:
            answered += 1
        diffs = differences(query, a, b)
        if diffs:
            report.append("\n    ".join([query, *diffs]))
    heading = f"{len(report)} of {len(QUERIES)} searches differ ({first.name} / {second.name}):"
    assert not report, "\n".join([heading, *report])
    # The comparison means something only if the data is there to be found.
    assert answered > len(QUERIES) // 2, f"only {answered} searches matched anything"
