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
    assert {
        "read",
        "vread",
        "update",
        "delete",
        "history-instance",
        "history-type",
        "create",
        "search-type",
    } <= codes
    params = {p["name"]: p["type"] for p in patient["searchParam"]}
    assert params["identifier"] == "token" and params["_id"] == "token"
    assert params["name"] == "string" and params["birthdate"] == "date"
    assert params["general-practitioner"] == "reference"
    observation = next(r for r in rest["resource"] if r["type"] == "Observation")
    claimed = {p["name"]: p["type"] for p in observation["searchParam"]}
    assert claimed["value-quantity"] == "quantity"
    assert claimed["code-value-quantity"] == "composite"
    # `_text`/`_content` (no expression) are not implemented: not claimed; of the
    # "special" parameters only Location.near is
    assert "_text" not in claimed
    special = {
        (r["type"], p["name"])
        for r in rest["resource"]
        for p in r["searchParam"]
        if p["type"] == "special"
    }
    assert special == {("Location", "near")}


async def test_every_claimed_search_parameter_is_accepted_strictly(
    client: httpx.AsyncClient,
) -> None:
    statement = (await client.get("metadata")).json()
    for resource in statement["rest"][0]["resource"][:40]:
        for param in resource["searchParam"]:
            if param["type"] == "composite":
                continue  # values depend on the components: tests/api/search/test_composite.py
            value = {"date": "2020", "number": "1", "quantity": "1"}.get(param["type"], "x")
            response = await client.get(
                resource["type"],
                params={param["name"]: value},
                headers={"Prefer": "handling=strict"},
            )
            assert response.status_code == 200, (resource["type"], param["name"], response.text)
