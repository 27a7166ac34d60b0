"""Inputs at the edges that once answered 500: far dates, forged cursors, huge versions,
control characters. Each must be a clear 2xx or 4xx."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tests.api.resources import FHIR_JSON, patient


@pytest.mark.parametrize("birth", ["9999", "9999-12-31", "0001-01-01"])
async def test_far_dates_are_stored_and_searchable(client: httpx.AsyncClient, birth: str) -> None:
    created = await client.post("Patient", json=patient(birthDate=birth), headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    found = await client.get("Patient", params={"birthdate": birth})
    assert [e["resource"]["id"] for e in found.json()["entry"]] == [created.json()["id"]]


@pytest.mark.parametrize(
    "params",
    [
        {"birthdate": "ge9999"},
        {"birthdate": "sa9999-12-31"},
        {"birthdate": "0001-01-01T00:00:00+14:00"},
        {"birthdate": "9999-12-31T23:59:59-14:00"},
        {"_lastUpdated": "9999"},
        {"birthdate": "ap9999"},
    ],
)
async def test_far_date_searches(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await client.get("Patient", params=params)
    assert response.status_code == 200, response.text


async def test_far_dates_in_history(client: httpx.AsyncClient) -> None:
    assert (
        await client.get("_history", params={"_since": "9999-12-31T23:59:59Z"})
    ).status_code == 200
    assert (await client.get("_history", params={"_at": "9999"})).status_code == 200


def _cursor(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("query", "cursor"),
    [
        ({"_sort": "family"}, {"p": 1, "d": "a", "v": []}),
        ({}, {"p": 10**30, "d": "a", "v": []}),
        ({"birthdate": "ge2000"}, {"p": 1, "d": "a", "v": ["x"]}),
        ({}, {"p": -5, "d": "b", "v": []}),
    ],
)
async def test_forged_cursors_are_400(
    client: httpx.AsyncClient, query: dict[str, str], cursor: dict
) -> None:
    await client.post("Patient", json=patient(), headers=FHIR_JSON)
    response = await client.get("Patient", params={**query, "_cursor": _cursor(cursor)})
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == ["_cursor"]


async def test_huge_version_is_404(client: httpx.AsyncClient) -> None:
    pid = (await client.post("Patient", json=patient(), headers=FHIR_JSON)).json()["id"]
    response = await client.get(f"Patient/{pid}/_history/99999999999999999999999")
    assert response.status_code == 404


async def test_control_characters_are_refused(client: httpx.AsyncClient) -> None:
    sent = patient()
    sent["name"][0]["family"] = "Smith\u0007"
    response = await client.post("Patient", json=sent, headers=FHIR_JSON)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Patient.name[0].family"]
    tab = patient()
    tab["name"][0]["text"] = "Smith\tJr"
    assert (await client.post("Patient", json=tab, headers=FHIR_JSON)).status_code == 201


async def test_not_with_several_values_excludes_each(client: httpx.AsyncClient) -> None:
    for gender in ("male", "female", "other"):
        await client.post("Patient", json=patient(gender=gender), headers=FHIR_JSON)
    found = (await client.get("Patient", params={"gender:not": "male,female"})).json()
    assert [e["resource"]["gender"] for e in found["entry"]] == ["other"]


async def test_revinclude_wildcard_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("Patient", params={"_revinclude": "*"})
    assert response.status_code == 400


@pytest.mark.parametrize("host", ['evil.com/"><script>', "a b", "x\ty"])
async def test_a_malformed_host_header_never_reaches_links(
    client: httpx.AsyncClient, host: str
) -> None:
    response = await client.get("Patient", headers={"Host": host})
    assert response.status_code == 400
    assert "script" not in response.text


async def test_an_encoded_slash_stays_inside_the_id(client: httpx.AsyncClient) -> None:
    response = await client.get("Patient/a%2Fb")
    assert response.status_code == 400  # one segment 'a/b': not a valid id, not Patient/a/b


_XHTML_DIV = '<div xmlns="http://www.w3.org/1999/xhtml">'


@pytest.mark.parametrize(
    "div",
    [
        "not xhtml at all",
        "<div><unclosed></div>",
        '<div xmlns="http://www.w3.org/1999/xhtml">&nbsp;</div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></div>',
        # browsers read tag names in any case; XHTML knows only lower case
        '<div xmlns="http://www.w3.org/1999/xhtml"><SCRIPT>alert(1)</SCRIPT></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"><IFrame src="https://x.example"/></div>',
        # what XML, where the div is an element, could not carry: JSON and XML would differ
        '<!-- c --><div xmlns="http://www.w3.org/1999/xhtml">x</div>',
        '<?xml version="1.0"?><div xmlns="http://www.w3.org/1999/xhtml">x</div>',
        '<div xmlns="http://www.w3.org/1999/xhtml">x</div><?pi x?>',
        '\ufeff<div xmlns="http://www.w3.org/1999/xhtml">x</div>',
        # markup hidden from the check where browsers would run it
        _XHTML_DIV + "<p>a</p><!--><img src=x onerror=alert(1)>--></div>",
        _XHTML_DIV + "<p><![CDATA[x><img src=x onerror=alert(1)>]]></p></div>",
        _XHTML_DIV + "<p>a<?x ><img src=x onerror=alert(1)>?></p></div>",
        # txt-1 allows basic HTML only
        _XHTML_DIV + '<svg><animate values="javascript:alert(1)"/></svg></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"><img src="x" onerror="alert(1)"/></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"><a href="javascript:alert(1)">x</a></div>',
        # Narrative.div: "SHALL NOT contain ... base/link/xlink"
        '<div xmlns="http://www.w3.org/1999/xhtml" xmlns:xlink="http://www.w3.org/1999/xlink">'
        '<a xlink:href="http://x.example">x</a></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml">' + "<b>" * 300 + "x" + "</b>" * 300 + "</div>",
    ],
)
async def test_hostile_or_broken_narrative_is_refused(client: httpx.AsyncClient, div: str) -> None:
    sent = patient(text={"status": "generated", "div": div})
    response = await client.post("Patient", json=sent, headers=FHIR_JSON)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Patient.text.div"]


@pytest.mark.parametrize("text", ["a\ufffeb", "a\uffffb", "a\x0bb"])
async def test_a_character_xml_cannot_carry_is_refused_before_anything_is_stored(
    client: httpx.AsyncClient, text: str
) -> None:
    # Stored, it would make every XML answer holding the resource fail (406), even that
    # of its own create.
    sent = {"resourceType": "Basic", "id": "odd", "code": {"text": text}}
    response = await client.put(
        "Basic/odd", json=sent, headers={**FHIR_JSON, "Accept": "application/fhir+xml"}
    )
    assert response.status_code == 400
    assert (await client.get("Basic/odd")).status_code == 404


@pytest.mark.parametrize("around", ["", "\n"])  # a serializer's trailing newline is no content
async def test_plain_narrative_is_kept(client: httpx.AsyncClient, around: str) -> None:
    div = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Peter &amp; <b>Jim</b> &#160;</p></div>'
    div += around
    sent = patient(text={"status": "generated", "div": div})
    created = await client.post("Patient", json=sent, headers=FHIR_JSON)
    assert created.status_code == 201
    assert created.json()["text"]["div"] == div


async def test_a_non_string_condition_in_a_transaction_is_refused(
    client: httpx.AsyncClient,
) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": patient(),
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": 123},
            }
        ],
    }
    response = await client.post("", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 400
    assert "ifNoneExist" in response.json()["issue"][0]["diagnostics"]
    assert (await client.get("Patient", params={"_summary": "count"})).json()["total"] == 0


async def test_a_huge_ucum_exponent_is_not_a_500(client: httpx.AsyncClient) -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "valueQuantity": {"value": 1, "system": "http://unitsofmeasure.org", "code": "10*999"},
    }
    assert (await client.post("Observation", json=obs, headers=FHIR_JSON)).status_code == 201
    response = await client.get(
        "Observation", params={"value-quantity": "1|http://unitsofmeasure.org|10*999"}
    )
    assert response.status_code == 200
    assert len(response.json()["entry"]) == 1


async def test_too_many_or_values_are_400(client: httpx.AsyncClient) -> None:
    response = await client.get("Patient", params={"gender": ",".join(["male"] * 1500)})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "href", ["java&#x09;script:alert(1)", "java&#10;script:alert(1)", " JAVASCRIPT:x"]
)
async def test_script_links_hidden_by_whitespace_are_refused(
    client: httpx.AsyncClient, href: str
) -> None:
    div = f'<div xmlns="http://www.w3.org/1999/xhtml"><a href="{href}">x</a></div>'
    sent = patient(text={"status": "generated", "div": div})
    assert (await client.post("Patient", json=sent, headers=FHIR_JSON)).status_code == 400


async def test_references_to_this_servers_own_absolute_url_are_local(
    client: httpx.AsyncClient,
) -> None:
    await client.put("Patient/p9", json=patient(id="p9"), headers=FHIR_JSON)
    own = "http://testserver/fhir/acme/Patient/p9"
    obs = {
        "resourceType": "Observation",
        "id": "own",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": own},
    }
    await client.put("Observation/own", json=obs, headers=FHIR_JSON)
    for params in ({"subject": "Patient/p9"}, {"subject": own}, {"patient": "p9"}):
        found = (await client.get("Observation", params=params)).json()
        assert [e["resource"]["id"] for e in found["entry"]] == ["own"], params
    compartment = (await client.get("Patient/p9/Observation")).json()
    assert [e["resource"]["id"] for e in compartment["entry"]] == ["own"]


DECIMALS = [
    "1.50",
    "1E2",
    "0.1000000000000000000001",
    "12345678901234567890123",
    "18446744073709551615",  # an integer orjson keeps, past int64
    "0.00001",
]


@pytest.mark.parametrize("value", DECIMALS)
async def test_a_decimal_keeps_its_precision(client: httpx.AsyncClient, value: str) -> None:
    """datatypes.html#decimal: 1.50 is not 1.5; stored and answered as sent, in every view."""
    body = (
        '{"resourceType":"Observation","status":"final","code":{"text":"x"},'
        f'"valueQuantity":{{"value":{value},"unit":"kg"}}}}'
    )
    created = await client.post("Observation", content=body, headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    url = f"Observation/{created.json()['id']}"
    expected = f'"value":{value},'.encode()
    assert expected in created.content
    assert expected in (await client.get(url)).content
    assert expected in (await client.get(url, params={"_elements": "value"})).content
    pretty = (await client.get(url, params={"_pretty": "true"})).content
    assert f'"value": {value},'.encode() in pretty
    xml = await client.get(url, params={"_format": "xml"})
    assert f'<value value="{value}"/>'.encode() in xml.content
    # and back in from XML
    again = await client.post(
        "Observation", content=xml.content, headers={"Content-Type": "application/fhir+xml"}
    )
    assert again.status_code == 201 and expected in again.content
    # a JSON Patch that changes something else leaves it as it was
    patch = [{"op": "replace", "path": "/status", "value": "amended"}]
    patched = await client.patch(
        url, json=patch, headers={"Content-Type": "application/json-patch+json"}
    )
    assert patched.status_code == 200 and expected in patched.content


async def test_an_integer_past_64_bits_is_too_big_not_a_fraction(
    client: httpx.AsyncClient,
) -> None:
    body = '{"resourceType":"Patient","multipleBirthInteger":12345678901234567890123}'
    response = await client.post("Patient", content=body, headers=FHIR_JSON)
    assert response.status_code == 400
    assert "32 bits" in response.json()["issue"][0]["diagnostics"]
