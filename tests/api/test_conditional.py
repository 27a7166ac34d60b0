"""Conditional create, update and delete (http.html#ccreate, #cond-update, #cdelete)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from fhir_server.settings import Settings
from fhir_server.web.app import create_app
from tests.api.resources import FHIR_JSON, patient

MRN = "http://hospital.example/mrn"


async def test_conditional_create_deduplicates_on_identifier(client: httpx.AsyncClient) -> None:
    headers = {**FHIR_JSON, "If-None-Exist": f"identifier={MRN}|M-1"}
    first = await client.post("Patient", json=patient(mrn="M-1"), headers=headers)
    assert first.status_code == 201
    second = await client.post("Patient", json=patient(mrn="M-1"), headers=headers)
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    bundle = (await client.get("Patient", params={"identifier": f"{MRN}|M-1"})).json()
    assert bundle["total"] == 1


async def test_conditional_create_with_two_matches_is_412(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        await client.post("Patient", json=patient(mrn="DUP"), headers=FHIR_JSON)
    response = await client.post(
        "Patient", json=patient(mrn="DUP"), headers={**FHIR_JSON, "If-None-Exist": "identifier=DUP"}
    )
    assert response.status_code == 412


async def test_conditional_create_with_unknown_criterion_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "Patient", json=patient(), headers={**FHIR_JSON, "If-None-Exist": "identifer=x"}
    )
    assert response.status_code == 400
    assert "identifer" in response.json()["issue"][0]["diagnostics"]


async def test_conditional_update_creates_then_updates(client: httpx.AsyncClient) -> None:
    params = {"identifier": f"{MRN}|C-1"}
    first = await client.put(
        "Patient", params=params, json=patient("One", mrn="C-1"), headers=FHIR_JSON
    )
    assert first.status_code == 201
    second = await client.put(
        "Patient", params=params, json=patient("Two", mrn="C-1"), headers=FHIR_JSON
    )
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["meta"]["versionId"] == "2"


async def test_conditional_update_without_a_match_never_replaces_another_resource(
    client: httpx.AsyncClient,
) -> None:
    existing = {**patient("Kept", mrn="K-1"), "id": "kept"}
    assert (await client.put("Patient/kept", json=existing, headers=FHIR_JSON)).status_code == 201
    intruder = {**patient("Clobber", mrn="NO-MATCH"), "id": "kept"}
    params = {"identifier": f"{MRN}|NO-MATCH"}
    response = await client.put("Patient", params=params, json=intruder, headers=FHIR_JSON)
    assert response.status_code == 409
    assert response.json()["resourceType"] == "OperationOutcome"
    kept = (await client.get("Patient/kept")).json()
    assert kept["name"][0]["family"] == "Kept" and kept["meta"]["versionId"] == "1"
    # a new id with no match is an update as create
    fresh = {**patient("Fresh", mrn="NO-MATCH"), "id": "fresh"}
    created = await client.put("Patient", params=params, json=fresh, headers=FHIR_JSON)
    assert created.status_code == 201 and created.json()["id"] == "fresh"


async def test_conditional_update_with_many_matches_is_412(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        await client.post("Patient", json=patient(mrn="MANY"), headers=FHIR_JSON)
    response = await client.put(
        "Patient", params={"identifier": "MANY"}, json=patient(mrn="MANY"), headers=FHIR_JSON
    )
    assert response.status_code == 412


async def test_conditional_delete(client: httpx.AsyncClient) -> None:
    pid = (await client.post("Patient", json=patient(mrn="DEL"), headers=FHIR_JSON)).json()["id"]
    response = await client.delete("Patient", params={"identifier": f"{MRN}|DEL"})
    assert response.status_code == 200
    assert (await client.get(f"Patient/{pid}")).status_code == 410
    nothing = await client.delete("Patient", params={"identifier": f"{MRN}|DEL"})
    assert nothing.status_code == 200
    assert "nothing was deleted" in nothing.json()["issue"][0]["diagnostics"]


async def test_a_question_mark_inside_a_criterion_value_is_part_of_it(
    client: httpx.AsyncClient,
) -> None:
    system = "http://x.org/id?src=a"
    body = {**patient(), "identifier": [{"system": system, "value": "1"}]}
    for criteria in (f"identifier={system}|1", f"Patient?identifier={system}|1"):
        headers = {**FHIR_JSON, "If-None-Exist": criteria}
        response = await client.post("Patient", json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
    assert (await client.get("Patient", params={"identifier": f"{system}|1"})).json()["total"] == 1


async def test_identical_conditional_updates_at_once_all_land(client: httpx.AsyncClient) -> None:
    body = {**patient("Same", mrn="AT-ONCE"), "id": "at-once"}
    params = {"identifier": f"{MRN}|AT-ONCE"}
    responses = await asyncio.gather(
        *(client.put("Patient", params=params, json=body, headers=FHIR_JSON) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]


def _observation(performer: str) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "performer": [{"reference": performer}],
    }


async def test_conditional_references_are_resolved_outside_transactions(
    client: httpx.AsyncClient,
) -> None:
    """A create, update, patch or batch entry whose reference is a search
    (`Practitioner?identifier=...`) stores the one match's `Type/id` (as HAPI FHIR
    resolves inline match URLs), never the search string itself."""
    practitioner = {
        "resourceType": "Practitioner",
        "identifier": [{"system": "http://one", "value": "y"}],
    }
    made = await client.post("Practitioner", json=practitioner, headers=FHIR_JSON)
    resolved = f"Practitioner/{made.json()['id']}"
    wanted = "Practitioner?identifier=http://one|y"

    created = await client.post("Observation", json=_observation(wanted), headers=FHIR_JSON)
    assert created.status_code == 201
    assert created.json()["performer"] == [{"reference": resolved}]
    oid = created.json()["id"]
    updated = await client.put(
        f"Observation/{oid}", json={**_observation(wanted), "id": oid}, headers=FHIR_JSON
    )
    assert updated.json()["performer"] == [{"reference": resolved}]
    patch = [{"op": "replace", "path": "/performer/0/reference", "value": wanted}]
    patched = await client.patch(
        f"Observation/{oid}", json=patch, headers={"Content-Type": "application/json-patch+json"}
    )
    assert patched.json()["performer"] == [{"reference": resolved}]
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": _observation(wanted), "request": {"method": "POST", "url": "Observation"}}
        ],
    }
    answered = (await client.post("", json=batch, headers=FHIR_JSON)).json()
    assert answered["entry"][0]["response"]["status"].startswith("201")
    found = await client.get("Observation", params={"performer": resolved, "_total": "accurate"})
    assert found.json()["total"] == 2


async def test_a_conditional_reference_needs_exactly_one_match(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        twin = {
            "resourceType": "Practitioner",
            "identifier": [{"system": "http://two", "value": "z"}],
        }
        await client.post("Practitioner", json=twin, headers=FHIR_JSON)
    none = await client.post(
        "Observation", json=_observation("Practitioner?identifier=http://none|x"), headers=FHIR_JSON
    )
    assert none.status_code == 412
    many = await client.post(
        "Observation", json=_observation("Practitioner?identifier=http://two|z"), headers=FHIR_JSON
    )
    assert many.status_code == 412
    bad = await client.post(
        "Observation", json=_observation("Practitioner?foo=bar"), headers=FHIR_JSON
    )
    assert bad.status_code == 400
    issue = bad.json()["issue"][0]
    assert "Practitioner?foo=bar" in issue["diagnostics"] and "expression" not in issue
    assert (await client.get("Observation", params={"_summary": "count"})).json()["total"] == 0


@pytest.fixture
async def sqlite_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The embedded store alone: it checks a conditional write's criteria under the write
    lock. MongoDB checks them just before writing, with no predicate lock, so racing
    conditional writes there can each create (docs/mongodb.md)."""
    app = create_app(Settings(data_dir=tmp_path / "data", demo=True))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/fhir/demo/") as http:
        yield http
    await app.aclose()


async def test_racing_conditional_updates_make_one_resource(
    sqlite_client: httpx.AsyncClient,
) -> None:
    """Twenty `PUT Patient?identifier=...` at once, none matching yet: one creates, the
    others update it (they made twenty Patients, or several, and every later conditional
    update then matched more than one)."""
    body = patient(mrn="RACE")
    answers = await asyncio.gather(
        *(
            sqlite_client.put(f"Patient?identifier={MRN}|RACE", json=body, headers=FHIR_JSON)
            for _ in range(20)
        )
    )
    assert sorted(a.status_code for a in answers) == [200] * 19 + [201]
    found = await sqlite_client.get(
        "Patient", params={"identifier": f"{MRN}|RACE", "_total": "accurate"}
    )
    assert found.json()["total"] == 1
    assert found.json()["entry"][0]["resource"]["meta"]["versionId"] == "20"


async def test_racing_conditional_updates_in_transactions_make_one_resource(
    sqlite_client: httpx.AsyncClient,
) -> None:
    entry = {
        "resource": patient(mrn="TXRACE"),
        "request": {"method": "PUT", "url": f"Patient?identifier={MRN}|TXRACE"},
    }
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
    answers = await asyncio.gather(
        *(sqlite_client.post("", json=bundle, headers=FHIR_JSON) for _ in range(8))
    )
    assert all(a.status_code == 200 for a in answers), [
        a.text for a in answers if a.status_code != 200
    ]
    count = await sqlite_client.get(
        "Patient", params={"identifier": f"{MRN}|TXRACE", "_summary": "count"}
    )
    assert count.json()["total"] == 1


async def test_writes_without_a_precondition_all_land_however_many_race(
    client: httpx.AsyncClient,
) -> None:
    """Twenty PUTs of one Patient at once, and deletes among them: none is refused (a 412
    answers only a failed If-Match or If-None-Exist; they had none), versions follow on."""
    await client.put("Patient/hot", json=patient(id="hot"), headers=FHIR_JSON)
    puts = await asyncio.gather(
        *(
            client.put("Patient/hot", json=patient(f"N{i}", id="hot"), headers=FHIR_JSON)
            for i in range(20)
        )
    )
    assert [a.status_code for a in puts] == [200] * 20
    history = (await client.get("Patient/hot/_history", params={"_count": "50"})).json()
    assert [e["response"]["etag"] for e in history["entry"]] == [
        f'W/"{v}"' for v in range(21, 0, -1)
    ]
    mixed = await asyncio.gather(
        *(
            client.delete("Patient/hot")
            if i % 2
            else client.put("Patient/hot", json=patient(id="hot"), headers=FHIR_JSON)
            for i in range(20)
        )
    )
    assert {a.status_code for a in mixed} <= {200, 201, 204}
