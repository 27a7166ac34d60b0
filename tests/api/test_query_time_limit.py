"""FHIR_QUERY_SECONDS on SQLite: a query past it is stopped and answered 400 too-costly,
and the server goes on serving."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from fhir_server.settings import Settings
from fhir_server.web.app import create_app
from tests.api.resources import FHIR_JSON, patient

# `:contains` reads every name entry (no index serves an infix), all of them when none
# matches: over one Patient of 20,000 names, far past the limit the fixture sets.
NAMES = 20_000


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(data_dir=tmp_path / "data", demo=True, query_seconds=0.001))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/fhir/demo/") as http:
        yield http
    await app.aclose()


async def test_a_query_past_the_limit_is_stopped(limited: httpx.AsyncClient) -> None:
    many = {"resourceType": "Patient", "name": [{"family": f"a{i}"} for i in range(NAMES)]}
    assert (await limited.post("Patient", json=many, headers=FHIR_JSON)).status_code == 201
    await limited.post("Patient", json=patient("Chalmers"), headers=FHIR_JSON)
    stopped = await limited.get("Patient", params={"name:contains": "zz", "_total": "accurate"})
    assert stopped.status_code == 400
    issue = stopped.json()["issue"][0]
    assert issue["code"] == "too-costly" and "0.001 s" in issue["diagnostics"]
    # the thread and its connection serve the next queries as before (a query of a few
    # thousand SQLite steps never meets the clock)
    found = await limited.get("Patient", params={"family": "chalmers"})
    assert found.status_code == 200 and found.json()["total"] == 1
    assert (await limited.get("Patient/_history")).status_code == 200
