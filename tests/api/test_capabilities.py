"""The CapabilityStatement says what is implemented, and never more."""

from __future__ import annotations

import httpx

from fhir_server.resource_types import RESOURCE_TYPES


async def test_metadata(client: httpx.AsyncClient) -> None:
    response = await client.get("metadata")
    assert response.status_code == 200
    statement = response.json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    assert "application/fhir+json" in statement["format"]
    rest = statement["rest"][0]
    assert {r["type"] for r in rest["resource"]} == RESOURCE_TYPES
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    codes = {i["code"] for i in patient["interaction"]}
    assert codes == {
        "read",
        "vread",
        "update",
        "delete",
        "history-instance",
        "history-type",
        "create",
        "search-type",
    }
    params = {p["name"]: p["type"] for p in patient["searchParam"]}
    assert params["identifier"] == "token" and params["_id"] == "token"
    assert "name" not in params  # string search is not implemented yet: not claimed
    assert {i["code"] for i in rest["interaction"]} == {"history-system"}


async def test_every_claimed_search_parameter_is_accepted_strictly(
    client: httpx.AsyncClient,
) -> None:
    statement = (await client.get("metadata")).json()
    for resource in statement["rest"][0]["resource"][:40]:
        for param in resource["searchParam"]:
            value = "2020" if param["type"] == "date" else "x"
            response = await client.get(
                resource["type"],
                params={param["name"]: value},
                headers={"Prefer": "handling=strict"},
            )
            assert response.status_code == 200, (resource["type"], param["name"], response.text)
