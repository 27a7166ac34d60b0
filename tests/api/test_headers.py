"""Prefer, content negotiation, _pretty, _summary and _elements (http.html, search.html)."""

from __future__ import annotations

import httpx
import pytest

from tests.api.resources import FHIR_JSON, patient

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
}


async def _pid(client: httpx.AsyncClient) -> str:
    return str((await client.post("Patient", json=patient(), headers=FHIR_JSON)).json()["id"])


async def test_prefer_return_minimal_and_outcome(client: httpx.AsyncClient) -> None:
    minimal = await client.post(
        "Patient", json=patient(), headers={**FHIR_JSON, "Prefer": "return=minimal"}
    )
    assert minimal.status_code == 201
    assert minimal.content == b""
    assert "location" in minimal.headers and minimal.headers["etag"] == 'W/"1"'
    outcome = await client.post(
        "Patient", json=patient(), headers={**FHIR_JSON, "Prefer": "return=OperationOutcome"}
    )
    assert outcome.status_code == 201
    assert outcome.json()["resourceType"] == "OperationOutcome"
    representation = await client.post(
        "Patient", json=patient(), headers={**FHIR_JSON, "Prefer": "return=representation"}
    )
    assert representation.json()["resourceType"] == "Patient"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/fhir+json", "application/fhir+json"),
        ("application/json", "application/json"),
        ("*/*", "application/fhir+json"),
        ("text/html;q=0.9, application/fhir+json", "application/fhir+json"),
        ("application/fhir+json; fhirVersion=4.0", "application/fhir+json"),
        ("application/fhir+json; fhirVersion=3.0, application/json", "application/json"),
    ],
)
async def test_accept_json_variants(client: httpx.AsyncClient, accept: str, expected: str) -> None:
    pid = await _pid(client)
    response = await client.get(f"Patient/{pid}", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(expected)


async def test_unsupported_accept_is_406_and_format_wins(client: httpx.AsyncClient) -> None:
    pid = await _pid(client)
    refused = await client.get(f"Patient/{pid}", headers={"Accept": "text/csv"})
    assert refused.status_code == 406
    assert refused.json()["resourceType"] == "OperationOutcome"
    overridden = await client.get(
        f"Patient/{pid}", params={"_format": "json"}, headers={"Accept": "text/csv"}
    )
    assert overridden.status_code == 200
    bad_format = await client.get(f"Patient/{pid}", params={"_format": "csv"})
    assert bad_format.status_code == 406
    # a literal `+` in the query string (a space once decoded) still names the MIME type
    for form, expected in (("application/fhir+json", "json"), ("application/fhir+xml", "xml")):
        literal = await client.get(f"Patient/{pid}?_format={form}")
        assert literal.status_code == 200 and expected in literal.headers["content-type"]
    versioned = await client.get(f"Patient/{pid}?_format=application/fhir+json;%20fhirVersion=3.0")
    assert versioned.status_code == 406
    other_version = {"Accept": "application/fhir+json; fhirVersion=3.0"}
    assert (await client.get(f"Patient/{pid}", headers=other_version)).status_code == 406


async def test_unsupported_content_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "Patient", content=b"<Patient/>", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    for refused in (
        "application/fhir+json; charset=iso-8859-1",
        "application/fhir+json; fhirVersion=3.0",
    ):
        answer = await client.post("Patient", json=patient(), headers={"Content-Type": refused})
        assert answer.status_code == 415, refused
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert (await client.post("Patient", content=b"name=x", headers=form)).status_code == 415
    utf8 = {"Content-Type": "application/fhir+json; charset=UTF-8; fhirVersion=4.0"}
    assert (await client.post("Patient", json=patient(), headers=utf8)).status_code == 201
    json_plain = await client.post(
        "Patient", json=patient(), headers={"Content-Type": "application/json"}
    )
    assert json_plain.status_code == 201


async def test_pretty(client: httpx.AsyncClient) -> None:
    pid = await _pid(client)
    compact = await client.get(f"Patient/{pid}")
    pretty = await client.get(f"Patient/{pid}", params={"_pretty": "true"})
    assert b"\n" not in compact.content
    assert b'\n  "resourceType"' in pretty.content
    assert pretty.json() == compact.json()


async def test_summary_modes_mark_subsetted(client: httpx.AsyncClient) -> None:
    sent = patient(
        text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">P</div>'},
        photo=[{"contentType": "image/png", "data": "iVBORw0KGgo="}],
    )
    pid = (await client.post("Patient", json=sent, headers=FHIR_JSON)).json()["id"]
    summary = (await client.get(f"Patient/{pid}", params={"_summary": "true"})).json()
    assert "photo" not in summary and "text" not in summary and summary["name"]
    assert SUBSETTED in summary["meta"]["tag"]
    data = (await client.get(f"Patient/{pid}", params={"_summary": "data"})).json()
    assert "text" not in data and "photo" in data
    text = (await client.get(f"Patient/{pid}", params={"_summary": "text"})).json()
    assert "text" in text and "name" not in text
    full = (await client.get(f"Patient/{pid}", params={"_summary": "false"})).json()
    assert "photo" in full and "tag" not in full["meta"]
    bad = await client.get(f"Patient/{pid}", params={"_summary": "maybe"})
    assert bad.status_code == 400


async def test_elements_in_read_and_search(client: httpx.AsyncClient) -> None:
    pid = await _pid(client)
    read = (await client.get(f"Patient/{pid}", params={"_elements": "gender"})).json()
    assert set(read) == {"resourceType", "id", "meta", "gender"}
    assert SUBSETTED in read["meta"]["tag"]
    bundle = (await client.get("Patient", params={"_elements": "birthDate"})).json()
    resource = bundle["entry"][0]["resource"]
    assert set(resource) == {"resourceType", "id", "meta", "birthDate"}
