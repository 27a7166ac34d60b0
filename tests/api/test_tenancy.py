"""Tenants are hard boundaries: tenant b sees nothing of tenant a."""

from __future__ import annotations

import httpx

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
    assert (await other_client.get(f"Patient/{pid}/_history")).json()["total"] == 0


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
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json()["resourceType"] == "OperationOutcome"
