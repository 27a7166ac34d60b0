"""Tenants are hard boundaries: tenant b sees nothing of tenant a."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhir_server.settings import Settings
from fhir_server.storage.sqlite import provider as sqlite_provider
from fhir_server.web.app import FhirApp, create_app
from tenancy import TenantId
from tests.api.resources import FHIR_JSON, patient


async def test_other_tenant_cannot_read_search_or_see_history(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    pid = (await client.post("Patient", json=patient(mrn="SECRET"), headers=FHIR_JSON)).json()["id"]
    assert (await other_client.get(f"Patient/{pid}")).status_code == 404
    assert (await other_client.get(f"Patient/{pid}/_history/1")).status_code == 404
    assert (await other_client.get("Patient", params={"identifier": "SECRET"})).json()["total"] == 0
    assert (await other_client.get("Patient", params={"_id": pid})).json()["total"] == 0
    assert (await other_client.get("_history")).json()["total"] == 0
    assert (await other_client.get(f"Patient/{pid}/_history")).status_code == 404


async def test_writes_in_other_tenant_do_not_touch_first(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    await client.put("Patient/same", json=patient("A", id="same"), headers=FHIR_JSON)
    created = await other_client.put(
        "Patient/same", json=patient("B", id="same"), headers=FHIR_JSON
    )
    assert created.status_code == 201
    assert (await client.get("Patient/same")).json()["name"][0]["family"] == "A"


async def test_unknown_tenant_is_404(client: httpx.AsyncClient) -> None:
    for path in ("/fhir/nobody/Patient", "/fhir/nobody/metadata", "/fhir/NOT_VALID/Patient/1"):
        # an absolute URL: httpx would put a relative one under the client's /fhir/acme/
        response = await client.get(f"http://testserver{path}")
        assert response.status_code == 404
        assert "tenant" in response.json()["issue"][0]["diagnostics"]


async def test_a_tenant_created_while_running_is_served_within_a_second(
    app: FhirApp, client: httpx.AsyncClient
) -> None:
    assert (await client.get("http://testserver/fhir/latecomer/metadata")).status_code == 404
    app.stores.tenants.create(TenantId("latecomer"), "2026-01-01T00:00:00Z")
    await asyncio.sleep(1.1)  # unknown names are trusted for a second
    assert (await client.get("http://testserver/fhir/latecomer/metadata")).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "headers", "body"),
    [
        ("POST", "Patient/x", {"Content-Type": "application/fhir+json"}, b"{}"),  # else 405
        ("POST", "Patient", {"Content-Type": "application/fhir+json"}, b"{bad"),  # else 400
        ("GET", "metadata?_format=foo", {}, b""),  # else 406
        ("POST", "Patient", {"Content-Type": "text/plain"}, b"x"),  # else 415
        ("DELETE", "", {}, b""),  # else 405
    ],
)
async def test_an_unknown_tenant_is_404_whatever_else_is_wrong(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], body: bytes
) -> None:
    response = await client.request(
        method, f"http://testserver/fhir/no-such-tenant/{path}", headers=headers, content=body
    )
    assert response.status_code == 404
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "Unknown tenant" in outcome["issue"][0]["diagnostics"]


async def test_a_damaged_tenant_is_named_in_the_log_and_the_others_serve(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data"))
    for name in ("good", "broken"):
        app.stores.tenants.create(TenantId(name), "2026-01-01T00:00:00Z")
    (tmp_path / "data" / "tenants" / "broken.sqlite").write_bytes(b"GARBAGE" * 1000)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/fhir/") as http:
        broken = await http.get("broken/Patient")
        assert broken.status_code == 500
        assert broken.json()["resourceType"] == "OperationOutcome"
        assert "tenant broken: its store could not be opened: DatabaseError" in caplog.text
        assert (await http.get("good/Patient")).status_code == 200
    await app.aclose()


async def test_an_unknown_tenant_answers_in_the_format_asked_for(client: httpx.AsyncClient) -> None:
    xml = await client.get(
        "http://testserver/fhir/nosuch/Patient", headers={"Accept": "application/fhir+xml"}
    )
    assert xml.status_code == 404
    assert xml.headers["content-type"].startswith("application/fhir+xml")
    assert b"<OperationOutcome" in xml.content
    formatted = await client.get("http://testserver/fhir/nosuch/Patient", params={"_format": "xml"})
    assert formatted.headers["content-type"].startswith("application/fhir+xml")


async def test_a_tenant_slow_to_open_does_not_hold_up_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a tenant's database can take seconds (bringing an older one up to date): it
    happens off the event loop, which meanwhile answers the tenants already open."""

    class SlowToOpen(sqlite_provider.SqliteResourceStore):
        def __init__(self, path: Path, **options: Any) -> None:
            if path.stem == "slow":
                time.sleep(1.0)  # as a long migration would, on whichever thread opens it
            super().__init__(path, **options)

    monkeypatch.setattr(sqlite_provider, "SqliteResourceStore", SlowToOpen)
    app = create_app(Settings(data_dir=tmp_path / "data"))
    for name in ("fast", "slow"):
        app.stores.tenants.create(TenantId(name), "2026-01-01T00:00:00Z")
    finished: list[str] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/fhir/") as http:
        assert (await http.get("fast/Patient")).status_code == 200  # open already

        async def get(name: str, after: float) -> None:
            await asyncio.sleep(after)
            assert (await http.get(f"{name}/Patient")).status_code == 200
            finished.append(name)

        await asyncio.gather(get("slow", 0.0), get("fast", 0.1))
    await app.aclose()
    assert finished == ["fast", "slow"]
