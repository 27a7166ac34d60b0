"""The Date header, and Last-Modified never later than it (RFC 9110 6.6.1, 8.8.2.1)."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx

from tests.api.resources import FHIR_JSON, patient
from tests.api.server_process import ServerProcess


def test_last_modified_is_never_later_than_date(server: ServerProcess) -> None:
    """uvicorn's own Date lags the clock by up to a second: over two seconds of creates,
    most answered a Last-Modified past their Date. Each response carries one Date now."""
    with httpx.Client(base_url=server.base + "/", timeout=10) as http:
        for _ in range(40):
            created = http.post("Patient", json=patient(), headers=FHIR_JSON)
            assert created.status_code == 201
            read = http.get(created.headers["location"].split("/_history")[0])
            for response in (created, read):
                dates = response.headers.get_list("date")
                assert len(dates) == 1, dates
                modified = parsedate_to_datetime(response.headers["last-modified"])
                assert modified <= parsedate_to_datetime(dates[0])
            time.sleep(0.05)
        health = http.get(server.base.split("/fhir/")[0] + "/healthz")
        assert len(health.headers.get_list("date")) == 1


async def test_every_response_has_a_date(client: httpx.AsyncClient) -> None:
    """Served in-process too (no server adds one there): FHIR answers, errors, and the
    routes outside /fhir."""
    created = await client.post("Patient", json=patient(), headers=FHIR_JSON)
    missing = await client.get("Patient/nope")
    health = await client.get("/healthz")
    for response in (created, missing, health):
        assert len(response.headers.get_list("date")) == 1
        parsedate_to_datetime(response.headers["date"])  # an IMF-fixdate
