"""Bad input: every case answers 4xx with an OperationOutcome naming the problem, never 500,
and never changes what is stored."""

from __future__ import annotations

import httpx
import pytest

from tests.api.resources import FHIR_JSON, patient


def _outcome(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "error"
    assert "Traceback" not in response.text
    return body


async def test_malformed_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "Patient", content=b'{"resourceType": "Patient",', headers=FHIR_JSON
    )
    assert "not valid JSON" in _outcome(response, 400)["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    ("body", "named"), [(b"[1, 2]", "an array"), (b"null", "null"), (b'"x"', "a string")]
)
async def test_json_that_is_not_an_object(
    client: httpx.AsyncClient, body: bytes, named: str
) -> None:
    """The diagnostics name the JSON type the client sent, not one of Python's."""
    response = await client.post("Patient", content=body, headers=FHIR_JSON)
    diagnostics = _outcome(response, 400)["issue"][0]["diagnostics"]
    assert diagnostics.endswith(f"must be a JSON object, not {named}")


async def test_wrong_resource_type(client: httpx.AsyncClient) -> None:
    sent = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    body = _outcome(await client.post("Patient", json=sent, headers=FHIR_JSON), 400)
    assert body["issue"][0]["expression"] == ["resourceType"]


async def test_body_id_differs_from_url_id(client: httpx.AsyncClient) -> None:
    body = _outcome(await client.put("Patient/one", json=patient(id="two"), headers=FHIR_JSON), 400)
    assert body["issue"][0]["expression"] == ["id"]
    _outcome(await client.get("Patient/one"), 404)


async def test_update_without_body_id(client: httpx.AsyncClient) -> None:
    body = _outcome(await client.put("Patient/one", json=patient(), headers=FHIR_JSON), 400)
    assert "The body has no id" in body["issue"][0]["diagnostics"]


async def test_unknown_element_named_with_fhirpath(client: httpx.AsyncClient) -> None:
    sent = patient()
    sent["name"][0]["fmily"] = "X"
    body = _outcome(await client.post("Patient", json=sent, headers=FHIR_JSON), 400)
    assert body["issue"][0]["expression"] == ["Patient.name[0].fmily"]


@pytest.mark.parametrize(
    ("element", "value", "where"),
    [
        ("active", "yes", "Patient.active"),
        ("birthDate", "1974-13-01", "Patient.birthDate"),
        ("gender", 7, "Patient.gender"),
    ],
)
async def test_invalid_primitive(
    client: httpx.AsyncClient, element: str, value: object, where: str
) -> None:
    body = _outcome(
        await client.post("Patient", json=patient(**{element: value}), headers=FHIR_JSON), 400
    )
    assert where in body["issue"][0]["expression"]


async def test_unknown_resource_type(client: httpx.AsyncClient) -> None:
    _outcome(
        await client.post("Patience", json={"resourceType": "Patience"}, headers=FHIR_JSON), 404
    )
    _outcome(await client.get("Patience/1"), 404)


@pytest.mark.parametrize("bad_id", ["a b", "x" * 65, "a_b", "a%2Fb"])
async def test_id_that_breaks_the_id_rule(client: httpx.AsyncClient, bad_id: str) -> None:
    response = await client.put(f"Patient/{bad_id}", json=patient(id=bad_id), headers=FHIR_JSON)
    assert response.status_code in (400, 404)
    _outcome(response, response.status_code)


async def test_body_over_size_limit_is_413(client: httpx.AsyncClient) -> None:
    sent = patient(text={"status": "generated", "div": "<div>" + "x" * 300_000 + "</div>"})
    _outcome(await client.post("Patient", json=sent, headers=FHIR_JSON), 413)


async def test_fifty_levels_of_nesting(client: httpx.AsyncClient) -> None:
    nested: dict = {"url": "http://example.org/leaf", "valueString": "deep"}
    for _ in range(50):
        nested = {"url": "http://example.org/level", "extension": [nested]}
    sent = patient(extension=[nested])
    body = _outcome(await client.post("Patient", json=sent, headers=FHIR_JSON), 400)
    assert "deeper" in body["issue"][0]["diagnostics"]


async def test_method_not_allowed(client: httpx.AsyncClient) -> None:
    # RFC 9110 15.5.6: a 405 MUST name the methods the resource takes in Allow
    response = await client.post("Patient/123/_history")
    _outcome(response, 405)
    assert response.headers["allow"] == "GET, HEAD"
    response = await client.delete("metadata")
    _outcome(response, 405)
    assert response.headers["allow"] == "GET, HEAD"
    response = await client.post("Patient/123")
    assert response.headers["allow"] == "GET, HEAD, PUT, PATCH, DELETE"
    for method, url, allow in [
        ("DELETE", "Patient/123/*", "GET, HEAD"),
        ("DELETE", "Patient/123/Observation", "GET, HEAD"),
        ("GET", "Patient/123/_search", "POST"),
        ("GET", "Patient/123/Observation/_search", "POST"),
    ]:
        response = await client.request(method, url)
        _outcome(response, 405)
        assert response.headers["allow"] == allow, url


@pytest.mark.parametrize("value", ['W/"1', "2", 'W/"1" W/"2"', "W/1"])
async def test_malformed_if_match_is_400(client: httpx.AsyncClient, value: str) -> None:
    await client.put("Patient/one", json=patient(id="one"), headers=FHIR_JSON)
    headers = {**FHIR_JSON, "If-Match": value}
    response = await client.put("Patient/one", json=patient(id="one"), headers=headers)
    body = _outcome(response, 400)
    assert "If-Match" in body["issue"][0]["diagnostics"]
    assert (await client.get("Patient/one")).json()["meta"]["versionId"] == "1"


async def test_bad_if_match(client: httpx.AsyncClient) -> None:
    await client.put("Patient/one", json=patient(id="one"), headers=FHIR_JSON)
    response = await client.put(
        "Patient/one", json=patient(id="one"), headers={**FHIR_JSON, "If-Match": "banana"}
    )
    _outcome(response, 400)


async def test_bad_count(client: httpx.AsyncClient) -> None:
    _outcome(await client.get("Patient", params={"_count": "-1"}), 400)


async def test_bad_lastupdated(client: httpx.AsyncClient) -> None:
    body = _outcome(await client.get("Patient", params={"_lastUpdated": "gt2020-99"}), 400)
    assert body["issue"][0]["expression"] == ["_lastUpdated"]


async def test_failed_writes_leave_store_unchanged(client: httpx.AsyncClient) -> None:
    await client.put("Patient/keep", json=patient("Kept", id="keep"), headers=FHIR_JSON)
    bad = patient("Broken", id="keep", active="yes")
    _outcome(await client.put("Patient/keep", json=bad, headers=FHIR_JSON), 400)
    current = (await client.get("Patient/keep")).json()
    assert current["name"][0]["family"] == "Kept"
    assert current["meta"]["versionId"] == "1"


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ({"_birthDate": {"id": "b1"}}, "Patient.birthDate"),
        (
            {"name": [{"given": ["Ann", None], "_given": [None, {"id": "g2"}]}]},
            "Patient.name[0].given[1]",
        ),
        ({"maritalStatus": {"id": "m1"}}, "Patient.maritalStatus"),
    ],
)
async def test_an_element_with_only_an_id_is_refused(
    client: httpx.AsyncClient, extra: dict[str, object], where: str
) -> None:
    # ele-1: every element has a value or children other than its id
    body = _outcome(
        await client.post("Patient", json={"resourceType": "Patient", **extra}, headers=FHIR_JSON),
        400,
    )
    assert "ele-1" in body["issue"][0]["diagnostics"]
    assert body["issue"][0]["expression"] == [where]


async def test_a_primitive_with_an_id_and_a_value_or_extension_is_kept(
    client: httpx.AsyncClient,
) -> None:
    absent = {
        "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
        "valueCode": "unknown",
    }
    for extra in (
        {"birthDate": "2000", "_birthDate": {"id": "b1"}},
        {"_birthDate": {"extension": [absent]}},
    ):
        response = await client.post(
            "Patient", json={"resourceType": "Patient", **extra}, headers=FHIR_JSON
        )
        assert response.status_code == 201, response.text


async def test_deep_nesting_with_a_decimal_is_400(client: httpx.AsyncClient) -> None:
    # decimals are parsed a second time, by a parser that recurses
    body = b'{"resourceType":"Patient","x":' + b"[" * 990 + b"1.5" + b"]" * 990 + b"}"
    response = await client.post("Patient", content=body, headers=FHIR_JSON)
    assert "not valid JSON" in _outcome(response, 400)["issue"][0]["diagnostics"]


# Python refuses to read an integer of more than 4,300 digits (a ValueError): each place
# that reads a number from a request must not get that far.
LONG_DIGITS = "1" * 4301


async def test_an_endless_count_is_served_at_the_ceiling(client: httpx.AsyncClient) -> None:
    await client.post("Patient", json=patient(), headers=FHIR_JSON)
    for url in ("Patient", "Patient/_history", "_history"):
        response = await client.get(url, params={"_count": LONG_DIGITS})
        assert response.status_code == 200, response.text
        links = {link["relation"]: link["url"] for link in response.json()["link"]}
        assert "_count=1000" in links["self"]
    padded = await client.get("Patient", params={"_count": "0" * 5000 + "1"})
    assert len(padded.json()["entry"]) == 1


async def test_endless_numbers_in_bodies_are_refused_or_kept_as_sent(
    client: httpx.AsyncClient,
) -> None:
    xml = (
        '<Patient xmlns="http://hl7.org/fhir">'
        f'<multipleBirthInteger value="{LONG_DIGITS}"/></Patient>'
    )
    refused = await client.post(
        "Patient", content=xml, headers={"Content-Type": "application/fhir+xml"}
    )
    assert refused.status_code == 400
    assert "multipleBirthInteger" in refused.text
    as_json = await client.post(
        "Patient",
        content=b'{"resourceType":"Patient","multipleBirthInteger":' + LONG_DIGITS.encode() + b"}",
        headers=FHIR_JSON,
    )
    _outcome(as_json, 400)
    # a decimal is kept as written, however long
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "valueQuantity": {
            "value": 1,
            "system": "http://unitsofmeasure.org",
            "code": "10*" + LONG_DIGITS,
        },
    }
    created = await client.post("Observation", json=observation, headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    pid = (await client.post("Patient", json=patient(), headers=FHIR_JSON)).json()["id"]
    patch = [{"op": "add", "path": f"/name/{LONG_DIGITS}", "value": {"family": "X"}}]
    patched = await client.patch(
        f"Patient/{pid}", json=patch, headers={"Content-Type": "application/json-patch+json"}
    )
    _outcome(patched, 422)


@pytest.mark.parametrize(
    "near", ["\u0661|\u0661", "1_0|10", "nan|0", "0|0|10|km|x", "0", "0|0|ten", "0|0|1|furlong"]
)
async def test_near_takes_fhir_decimals_only(client: httpx.AsyncClient, near: str) -> None:
    _outcome(await client.get("Location", params={"near": near}), 400)


async def test_an_empty_if_none_exist_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "Patient", json=patient(), headers={**FHIR_JSON, "If-None-Exist": ""}
    )
    _outcome(response, 400)
    assert (await client.get("Patient", params={"_summary": "count"})).json()["total"] == 0


@pytest.mark.parametrize("coding", ["gzip", "br"])
async def test_a_compressed_body_is_415(client: httpx.AsyncClient, coding: str) -> None:
    response = await client.post(
        "Patient", json=patient(), headers={**FHIR_JSON, "Content-Encoding": coding}
    )
    _outcome(response, 415)
    assert (await client.get("Patient", params={"_summary": "count"})).json()["total"] == 0


async def test_an_empty_modifier_is_refused(client: httpx.AsyncClient) -> None:
    """`name:=x` is not `name=x` with the modifier forgotten: the client meant something."""
    diagnostics = _outcome(await client.get("Patient", params={"name:": "x"}), 400)
    assert "empty modifier" in diagnostics["issue"][0]["diagnostics"]
