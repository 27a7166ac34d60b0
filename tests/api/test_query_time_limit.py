"""FHIR_QUERY_SECONDS on SQLite: a query past it is stopped and answered 400 too-costly,
and the server goes on serving."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from fhir_server.settings import Settings
from fhir_server.web.app import create_app
from tests.api.resources import FHIR_JSON, patient

# A Patient of 3,000 names: a prefix search over them all runs for ~0.8 s here (its cost
# grows with the square of the names one resource holds).
NAMES = 3000


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(data_dir=tmp_path / "data", demo=True, query_seconds=0.2))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/fhir/demo/") as http:
        yield http
    await app.aclose()


async def test_a_query_past_the_limit_is_stopped(limited: httpx.AsyncClient) -> None:
    many = {"resourceType": "Patient", "name": [{"family": f"a{i}"} for i in range(NAMES)]}
    assert (await limited.post("Patient", json=many, headers=FHIR_JSON)).status_code == 201
    await limited.post("Patient", json=patient("Chalmers"), headers=FHIR_JSON)
    started = time.monotonic()
    stopped = await limited.get("Patient", params={"name": "a", "_total": "accurate"})
    assert time.monotonic() - started < 0.6  # stopped near 0.2 s, not run to its end
    assert stopped.status_code == 400
    issue = stopped.json()["issue"][0]
    assert issue["code"] == "too-costly" and "0.2 s" in issue["diagnostics"]
    # the thread and its connection serve the next queries as before
    found = await limited.get("Patient", params={"family": "chalmers"})
    assert found.status_code == 200 and found.json()["total"] == 1
    assert (await limited.get("Patient/_history")).status_code == 200
