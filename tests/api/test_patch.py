"""PATCH (http://hl7.org/fhir/R4/http.html#patch): JSON Patch and FHIRPath Patch, instance
and conditional, If-Match, and a result validated before it is stored."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson

from tests.api.bundle_helpers import bundle, diagnostics, entry, post_bundle
from tests.api.resources import FHIR_JSON, patient

JSON_PATCH = {"Content-Type": "application/json-patch+json"}
MRN = "http://hospital.example/mrn"


async def _patient(client: httpx.AsyncClient, **extra: Any) -> str:
    response = await client.post("Patient", json=patient(**extra), headers=FHIR_JSON)
    return str(response.json()["id"])


async def json_patch(
    client: httpx.AsyncClient, url: str, ops: list[dict[str, Any]], **headers: str
) -> httpx.Response:
    return await client.patch(url, content=orjson.dumps(ops), headers={**JSON_PATCH, **headers})


def operation(kind: str, path: str, **parts: Any) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        {"name": "type", "valueCode": kind},
        {"name": "path", "valueString": path},
    ]
    for name, value in parts.items():
        found.append(
            {"name": name, **value}
            if isinstance(value, dict)
            else {"name": name, "valueInteger": value}
        )
    return {"name": "operation", "part": found}


def parameters(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(operations)}


async def test_json_patch_changes_only_what_it_names(client: httpx.AsyncClient) -> None:
    pid = await _patient(client)
    response = await json_patch(
        client,
        f"Patient/{pid}",
        [
            {"op": "test", "path": "/name/0/family", "value": "Chalmers"},
            {"op": "replace", "path": "/name/0/family", "value": "Windsor"},
            {"op": "add", "path": "/name/0/given/-", "value": "Jim"},
            {"op": "remove", "path": "/birthDate"},
        ],
    )
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == 'W/"2"'
    stored = (await client.get(f"Patient/{pid}")).json()
    assert stored["name"][0] == {
        "use": "official",
        "family": "Windsor",
        "given": ["Peter", "James", "Jim"],
    }
    assert "birthDate" not in stored and stored["gender"] == "male"
    history = (await client.get(f"Patient/{pid}/_history")).json()
    assert history["entry"][0]["request"]["method"] == "PATCH"


async def test_if_match_guards_the_patch(client: httpx.AsyncClient) -> None:
    pid = await _patient(client)
    ops = [{"op": "replace", "path": "/active", "value": False}]
    stale = await json_patch(client, f"Patient/{pid}", ops, **{"If-Match": 'W/"7"'})
    assert stale.status_code == 412
    current = await json_patch(client, f"Patient/{pid}", ops, **{"If-Match": 'W/"1"'})
    assert current.status_code == 200 and current.json()["active"] is False


async def test_an_invalid_result_is_refused_and_nothing_changes(client: httpx.AsyncClient) -> None:
    pid = await _patient(client)
    for ops, status in (
        ([{"op": "replace", "path": "/active", "value": "yes"}], 422),  # result invalid R4
        ([{"op": "test", "path": "/gender", "value": "female"}], 422),  # a failed test
        ([{"op": "remove", "path": "/nothing/here"}], 422),  # a path that does not exist
        ([{"op": "replace", "path": "/id", "value": "other"}], 422),  # the id is not patchable
        ([{"op": "frobnicate", "path": "/active"}], 400),  # not JSON Patch
    ):
        response = await json_patch(client, f"Patient/{pid}", ops)
        assert response.status_code == status, (ops, response.text)
        assert response.json()["resourceType"] == "OperationOutcome"
    not_an_array = await client.patch(f"Patient/{pid}", content=b'{"op":"add"}', headers=JSON_PATCH)
    assert not_an_array.status_code == 400
    stored = (await client.get(f"Patient/{pid}")).json()
    assert stored["meta"]["versionId"] == "1" and stored["active"] is True


async def test_patching_what_does_not_exist(client: httpx.AsyncClient) -> None:
    ops = [{"op": "replace", "path": "/active", "value": False}]
    assert (await json_patch(client, "Patient/nobody", ops)).status_code == 404
    pid = await _patient(client)
    await client.delete(f"Patient/{pid}")
    assert (await json_patch(client, f"Patient/{pid}", ops)).status_code == 410


async def test_fhirpath_patch(client: httpx.AsyncClient) -> None:
    pid = await _patient(
        client, telecom=[{"system": "phone", "value": "1"}, {"system": "email", "value": "a@b"}]
    )
    body = parameters(
        operation(
            "replace", "Patient.name.where(use='official').family", value={"valueString": "Nouveau"}
        ),
        operation(
            "add", "Patient", name={"valueString": "deceasedBoolean"}, value={"valueBoolean": False}
        ),
        operation("insert", "Patient.name[0].given", value={"valueString": "First"}, index=0),
        operation("delete", "Patient.telecom.where(system='phone')"),
        operation(
            "add",
            "Patient",
            name={"valueString": "contact"},
            value={
                "part": [
                    {"name": "gender", "valueCode": "female"},
                    {"name": "name", "valueHumanName": {"family": "Kin"}},
                ]
            },
        ),
        operation("move", "Patient.name[0].given", source=2, destination=0),
    )
    response = await client.patch(f"Patient/{pid}", json=body, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    stored = (await client.get(f"Patient/{pid}")).json()
    assert stored["name"][0]["family"] == "Nouveau"
    assert stored["name"][0]["given"] == ["James", "First", "Peter"]
    assert stored["deceasedBoolean"] is False
    assert stored["telecom"] == [{"system": "email", "value": "a@b"}]
    assert stored["contact"] == [{"gender": "female", "name": {"family": "Kin"}}]


async def test_fhirpath_patch_keeps_primitive_extensions_with_their_values(
    client: httpx.AsyncClient,
) -> None:
    tagged = {"extension": [{"url": "http://example.org/why", "valueString": "nickname"}]}
    name = {"family": "Chalmers", "given": ["Peter", "Jim"], "_given": [None, tagged]}
    pid = await _patient(client, name=[name])
    body = parameters(
        operation("move", "Patient.name[0].given", source=1, destination=0),
        operation("insert", "Patient.name[0].given", value={"valueString": "James"}, index=1),
        operation(
            "add", "Patient.name[0]", name={"valueString": "given"}, value={"valueString": "P."}
        ),
    )
    response = await client.patch(f"Patient/{pid}", json=body, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    stored = (await client.get(f"Patient/{pid}")).json()["name"][0]
    assert stored["given"] == ["Jim", "James", "Peter", "P."]
    assert stored["_given"] == [tagged, None, None, None]  # the extension stays on Jim
    # values absent, extensions only: the new value goes after them
    pid = await _patient(client, name=[{"family": "X", "_given": [tagged]}])
    add = parameters(
        operation(
            "add", "Patient.name[0]", name={"valueString": "given"}, value={"valueString": "Ann"}
        )
    )
    response = await client.patch(f"Patient/{pid}", json=add, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    stored = (await client.get(f"Patient/{pid}")).json()["name"][0]
    assert (stored["given"], stored["_given"]) == ([None, "Ann"], [tagged, None])


async def test_fhirpath_patch_errors(client: httpx.AsyncClient) -> None:
    pid = await _patient(client)
    for body, status in (
        (
            parameters(
                operation("replace", "Patient.name.family.substring(1)", value={"valueString": "x"})
            ),
            400,
        ),
        (parameters(operation("replace", "Patient.address.city", value={"valueString": "x"})), 422),
        (
            parameters(
                operation(
                    "add", "Patient", name={"valueString": "nonsense"}, value={"valueString": "x"}
                )
            ),
            422,
        ),
        (
            parameters(
                operation(
                    "add", "Patient", name={"valueString": "gender"}, value={"valueCode": "female"}
                )
            ),
            422,
        ),
        ({"resourceType": "Parameters"}, 400),
    ):
        response = await client.patch(f"Patient/{pid}", json=body, headers=FHIR_JSON)
        assert response.status_code == status, (body, response.text)
    assert (await client.get(f"Patient/{pid}")).json()["meta"]["versionId"] == "1"


async def test_conditional_patch(client: httpx.AsyncClient) -> None:
    pid = await _patient(client, mrn="ONE")
    ops = [{"op": "replace", "path": "/active", "value": False}]
    response = await json_patch(client, f"Patient?identifier={MRN}|ONE", ops)
    assert response.status_code == 200 and response.json()["id"] == pid
    assert (await json_patch(client, f"Patient?identifier={MRN}|NONE", ops)).status_code == 404
    await _patient(client, mrn="TWO")
    await _patient(client, mrn="TWO")
    assert (await json_patch(client, f"Patient?identifier={MRN}|TWO", ops)).status_code == 412


async def test_patch_entries_in_a_transaction(client: httpx.AsyncClient) -> None:
    pid = await _patient(client)
    ops = orjson.dumps([{"op": "replace", "path": "/active", "value": False}])
    binary = {
        "resourceType": "Binary",
        "contentType": "application/json-patch+json",
        "data": base64.b64encode(ops).decode(),
    }
    fhirpath = parameters(operation("replace", "Patient.gender", value={"valueCode": "other"}))
    body = bundle("transaction", entry("PATCH", f"Patient/{pid}", binary))
    assert (await post_bundle(client, body)).status_code == 200
    body = bundle("transaction", entry("PATCH", f"Patient/{pid}", fhirpath, ifMatch='W/"2"'))
    response = await post_bundle(client, body)
    assert response.status_code == 200, response.text
    assert response.json()["entry"][0]["response"]["etag"] == 'W/"3"'
    stored = (await client.get(f"Patient/{pid}")).json()
    assert stored["active"] is False and stored["gender"] == "other"
    invalid = parameters(operation("replace", "Patient.gender", value={"valueCode": "robot"}))
    response = await post_bundle(
        client, bundle("transaction", entry("PATCH", f"Patient/{pid}", invalid))
    )
    assert response.status_code == 422 and "Bundle.entry[0]" in diagnostics(response)


async def test_a_patch_of_another_media_type_names_both_patch_formats(
    client: httpx.AsyncClient,
) -> None:
    pid = await _patient(client)
    refused = await client.patch(
        f"Patient/{pid}", content=b"[]", headers={"Content-Type": "text/plain"}
    )
    assert refused.status_code == 415
    assert "application/json-patch+json" in diagnostics(refused)
    assert "application/fhir+json" in diagnostics(refused)
