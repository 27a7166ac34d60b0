"""No client value ever reaches a MongoDB query as an operator (nor SQL as syntax).

Values shaped like MongoDB operators (`{"$where": "sleep(1000)"}`, `$ne`, `a.b`) go
through every search parameter type and modifier, on every backend: each answer is a
search result or a clear 400 OperationOutcome, never a 500, and a result holds only the
resources that really contain that text. On the MongoDB double every filter the adapter
sent is then checked: operators come only from the adapter's own set, and no client
text was ever used as a field name.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from fhir_server.web.app import FhirApp
from tests.api.resources import FHIR_JSON, patient
from tests.mongo_double import MongoDouble

WHERE = '{"$where": "sleep(1000)"}'
HOSTILE = [WHERE, "$where", '{"$gt": ""}', "$ne", "a.b", ".*", "\\", "$"]

# Every parameter type and modifier, as (resource type, parameter).
PARAMETERS = [
    ("Patient", "family"),  # string
    ("Patient", "family:exact"),
    ("Patient", "family:contains"),
    ("Patient", "identifier"),  # token
    ("Patient", "identifier:not"),
    ("Patient", "identifier:text"),
    ("Patient", "_tag"),
    ("Patient", "general-practitioner"),  # reference
    ("Patient", "general-practitioner:identifier"),
    ("Patient", "general-practitioner.name"),  # chain
    ("Patient", "_has:Observation:subject:code"),  # reverse chain
    ("Patient", "birthdate"),  # date
    ("Patient", "_lastUpdated"),
    ("Patient", "_id"),
    ("Patient", "name:missing"),
    ("Patient", "_list"),
    ("RiskAssessment", "probability"),  # number
    ("Observation", "value-quantity"),  # quantity
    ("Observation", "code-value-quantity"),  # composite
    ("Questionnaire", "url"),  # uri
    ("Questionnaire", "url:below"),
    ("Patient", "_sort"),  # result parameters
    ("Patient", "_include"),
    ("Patient", "_revinclude"),
]

# The operators the adapter itself writes; anything else would have come from outside.
OPERATORS = {
    "$and", "$or", "$nor", "$elemMatch", "$in", "$ne", "$gt", "$gte", "$lt", "$lte",
    "$regex", "$set", "$inc", "$match", "$project", "$unwind", "$group", "$addFields",
    "$sort", "$limit", "$map", "$filter", "$ifNull", "$eq", "$cond", "$literal", "$min",
    "$max",
}  # fmt: skip


def values_for(parameter: str, text: str) -> list[str]:
    """The hostile text alone, and inside each part of the parameter's value syntax."""
    if parameter in ("value-quantity",):
        return [text, f"5|{text}|{text}", f"5||{text}"]
    if parameter == "code-value-quantity":
        return [text, f"{text}$5", f"http://loinc.org|{text}$gt5"]
    if parameter in ("identifier", "_tag", "identifier:not"):
        return [text, f"{text}|{text}", f"|{text}"]
    return [text]


async def seed(client: httpx.AsyncClient) -> None:
    # A resource whose values look like operators, stored and found as plain text.
    odd = patient("$where", mrn='{"$gt": ""}')
    odd["identifier"][0]["system"] = "a.b"
    odd["id"] = "odd"
    assert (await client.put("Patient/odd", json=odd, headers=FHIR_JSON)).status_code == 201
    plain = patient("Ordinary")
    plain["id"] = "plain"
    assert (await client.put("Patient/plain", json=plain, headers=FHIR_JSON)).status_code == 201


async def test_operator_shaped_values_are_only_ever_text(
    client: httpx.AsyncClient, app: FhirApp
) -> None:
    await seed(client)
    for rtype, parameter in PARAMETERS:
        for text in HOSTILE:
            for value in values_for(parameter.split(":")[0], text):
                response = await client.get(rtype, params={parameter: value})
                assert response.status_code in (200, 400), (parameter, value, response.text)
                body = response.json()
                if response.status_code == 400:
                    assert body["resourceType"] == "OperationOutcome"
                    continue
                found = {e["resource"]["id"] for e in body.get("entry", [])}
                if parameter == "identifier:not":
                    continue  # a negation matches everything that lacks the value
                assert found <= {"odd"}, (parameter, value, found)
    assert_only_own_operators(app)


async def test_operator_shaped_text_round_trips_and_is_found_exactly(
    client: httpx.AsyncClient,
) -> None:
    await seed(client)
    stored = (await client.get("Patient/odd")).json()
    assert stored["name"][0]["family"] == "$where"
    assert stored["identifier"][0] == {"system": "a.b", "value": '{"$gt": ""}'}

    async def ids(params: dict[str, str]) -> set[str]:
        response = await client.get("Patient", params=params)
        assert response.status_code == 200, response.text
        return {e["resource"]["id"] for e in response.json().get("entry", [])}

    assert await ids({"family": "$where"}) == {"odd"}
    assert await ids({"family:exact": "$where"}) == {"odd"}
    assert await ids({"identifier": 'a.b|{"$gt": ""}'}) == {"odd"}
    assert await ids({"identifier": '{"$gt": ""}'}) == {"odd"}
    assert await ids({"identifier": "a.b|"}) == {"odd"}
    assert await ids({"family:contains": "."}) == set()  # not a regex wildcard
    assert await ids({"family:contains": "wher"}) == {"odd"}


async def test_a_json_key_shaped_like_an_operator_is_refused_cleanly(
    client: httpx.AsyncClient,
) -> None:
    for key in ("$where", "a.b", "$set"):
        resource = {**patient("Keys"), key: {"$gt": ""}}
        response = await client.post("Patient", json=resource, headers=FHIR_JSON)
        assert response.status_code == 400, response.text
        assert response.json()["resourceType"] == "OperationOutcome"
    assert (await client.get("Patient", params={"family": "keys"})).json()["total"] == 0


def assert_only_own_operators(app: FhirApp) -> None:
    double = _double(app)
    if double is None:
        return  # SQLite binds every value as a parameter; nothing more to inspect
    assert double.sent, "the adapter sent no query at all"
    for sent in double.sent:
        for key in _keys(sent):
            assert not key.startswith("$") or key in OPERATORS, key
            assert not any(h in key for h in ('"', "where", "$ne.", "a.b")), key


def _double(app: FhirApp) -> MongoDouble | None:
    backend = getattr(app.stores, "_backend", None)
    client = getattr(backend, "client", None)
    return client if isinstance(client, MongoDouble) else None


def _keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for k, v in value.items() for k in [k, *_keys(v)]]
    if isinstance(value, list | tuple):
        return [k for item in value for k in _keys(item)]
    return []


@pytest.mark.parametrize("text", [WHERE, "$where"])
async def test_forged_cursors_with_operator_values_are_refused(
    client: httpx.AsyncClient, text: str
) -> None:
    import base64

    forged = json.dumps({"p": 1, "d": "a", "v": [json.loads(text) if text == WHERE else text]})
    token = base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=")
    response = await client.get("Patient", params={"_cursor": token})
    # 400 where the cursor cannot be one the server issued; a scalar that fits the shape
    # may also be read as a (useless) position, but never as an operator
    assert response.status_code in (200, 400), response.text
    assert response.json()["resourceType"] in ("Bundle", "OperationOutcome")
    if text == WHERE:
        assert response.status_code == 400
