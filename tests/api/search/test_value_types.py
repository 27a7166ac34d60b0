"""Every parameter type with its prefixes and modifiers (search.html#ptypes)."""

from __future__ import annotations

import httpx
import pytest

from tests.api.search.helpers import id_set, ids, outcome


async def test_string_starts_with_folded_exact_and_contains(record: httpx.AsyncClient) -> None:
    assert await id_set(record, "Patient", {"name": "mul"}) == {"p1", "p2"}
    assert await id_set(record, "Patient", {"family": "MÜLLER"}) == {"p1"}
    assert await id_set(record, "Patient", {"given": "zoe"}) == {"p1"}
    assert await id_set(record, "Patient", {"family:exact": "Müller"}) == {"p1"}
    assert await id_set(record, "Patient", {"family:exact": "muller"}) == set()
    assert await id_set(record, "Patient", {"family:contains": "llig"}) == {"p2"}
    assert await id_set(record, "Patient", {"name": "kildare"}) == set()


async def test_string_or_and_and(record: httpx.AsyncClient) -> None:
    assert await id_set(record, "Patient", {"family": "müller,smith"}) == {"p1", "p3"}
    assert await id_set(record, "Patient", [("name", "mul"), ("name", "adam")]) == {"p2"}


async def test_escaped_comma_is_part_of_the_value(record: httpx.AsyncClient) -> None:
    assert await id_set(record, "Patient", {"family": r"smith\, jr"}) == {"p3"}
    assert await id_set(record, "Patient", {"family": r"smith\, sr"}) == set()
    assert await id_set(record, "Patient", {"family": "nobody,smith"}) == {"p3"}


async def test_token_forms_and_modifiers(record: httpx.AsyncClient) -> None:
    assert await id_set(record, "Patient", {"gender": "female"}) == {"p1"}
    assert await id_set(record, "Patient", {"identifier": "urn:mrn|B-2"}) == {"p2"}
    assert await id_set(record, "Patient", {"identifier": "urn:mrn|"}) == {"p1", "p2"}
    assert await id_set(record, "Patient", {"identifier": "|A-1"}) == set()
    assert await id_set(record, "Patient", {"gender:not": "female"}) == {"p2", "p3"}
    assert await id_set(record, "Observation", {"code:text": "code 83"}) == {"o1", "o4"}
    assert await id_set(record, "Patient", {"active": "true"}) == {"p1"}
    assert await id_set(record, "Patient", {"email": "zoe@example.org"}) == {"p1"}


async def test_a_bound_code_has_its_implicit_system(record: httpx.AsyncClient) -> None:
    # search.html#token: a `code` element's system is implied by its binding
    gender = "http://hl7.org/fhir/administrative-gender"
    assert await id_set(record, "Patient", {"gender": f"{gender}|male"}) == {"p2"}
    assert await id_set(record, "Patient", {"gender": f"{gender}|"}) == {"p1", "p2", "p3"}
    assert await id_set(record, "Patient", {"gender": "http://example.org/other|male"}) == set()
    assert await id_set(record, "Patient", {"gender": "|male"}) == set()  # "no system"
    status = "http://hl7.org/fhir/observation-status|amended"
    assert await id_set(record, "Observation", {"status": status}) == {"o4"}
    # a boolean has no system
    assert await id_set(record, "Patient", {"active": "|true"}) == {"p1"}


async def test_identifier_of_type(record: httpx.AsyncClient) -> None:
    v2 = "http://terminology.hl7.org/CodeSystem/v2-0203"
    assert await id_set(record, "Patient", {"identifier:of-type": f"{v2}|MR|A-1"}) == {"p1"}
    assert await id_set(record, "Patient", {"identifier:of-type": "|MR|A-1"}) == {"p1"}
    assert await id_set(record, "Patient", {"identifier:of-type": f"{v2}|MR|B-2"}) == set()
    assert await id_set(record, "Patient", {"identifier:of-type": f"{v2}|DL|A-1"}) == set()
    body = await outcome(record, "Patient", {"identifier:of-type": "MR|A-1"})
    assert body["issue"][0]["expression"] == ["identifier:of-type"]


async def test_date_prefixes_and_precision(record: httpx.AsyncClient) -> None:
    assert await id_set(record, "Patient", {"birthdate": "1980"}) == {"p1"}
    assert await id_set(record, "Patient", {"birthdate": "1980-05"}) == {"p1"}
    assert await id_set(record, "Patient", {"birthdate": "lt1960"}) == {"p2"}
    # 1955 (a whole year) overlaps "after 1955-06-01", so ge matches it (search.html#prefix)
    assert await id_set(record, "Patient", {"birthdate": "ge1955-06-01"}) == {"p1", "p2"}
    assert await id_set(record, "Patient", {"birthdate": "ge1956"}) == {"p1"}
    assert await id_set(record, "Patient", {"birthdate": "ne1980-05-17"}) == {"p2"}
    assert await id_set(record, "Observation", [("date", "ge2021"), ("date", "lt2022")]) == {
        "o1",
        "o2",
    }
    assert await id_set(record, "Observation", {"date": "sa2021-06-15"}) == {"o4"}
    assert await id_set(record, "Observation", {"date": "eb2021-01-01"}) == {"o3"}
    assert await id_set(record, "Encounter", {"date": "2021-03-01T10:30:00Z"}) == set()
    assert await id_set(record, "Encounter", {"date": "2021-03-01"}) == {"e1"}
    assert await id_set(record, "Encounter", {"date": "ap2021-03-01"}) == {"e1"}


async def test_periods_open_at_either_end(client: httpx.AsyncClient) -> None:
    # an open end spans to the int64 limit: its width must not overflow the index
    periods = {
        "ends-2020": {"end": "2020-01-01"},
        "from-1960": {"start": "1960-01-01"},
        "from-2024": {"start": "2024-05-01T10:00:00Z"},
    }
    for rid, period in periods.items():
        encounter = {
            "resourceType": "Encounter",
            "id": rid,
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "period": period,
        }
        assert (await client.put(f"Encounter/{rid}", json=encounter)).status_code == 201
    everyone = set(periods)
    assert await id_set(client, "Encounter", {"date": "ge1900"}) == everyone
    assert await id_set(client, "Encounter", {"date": "lt1961"}) == {"ends-2020", "from-1960"}
    assert await id_set(client, "Encounter", {"date": "gt2021"}) == {"from-1960", "from-2024"}
    assert await id_set(client, "Encounter", {"date": "ap1900"}) == {"ends-2020"}
    assert await id_set(client, "Encounter", {"date": "eq2020"}) == set()
    # a range with no start reaches back past every floor a date walk could use
    assert await id_set(client, "Encounter", {"date": "ge2019"}) == everyone
    assert await id_set(client, "Encounter", {"date": "gt2019-12-30"}) == everyone
    assert await id_set(client, "Encounter", {"date": "ap2019-12"}) == {"ends-2020", "from-1960"}


async def test_quantity_with_units_and_canonical_ucum(record: httpx.AsyncClient) -> None:
    assert await id_set(
        record, "Observation", {"value-quantity": "gt170|http://unitsofmeasure.org|cm"}
    ) == {"o4"}
    assert await id_set(record, "Observation", {"value-quantity": "64.5||kg"}) == {"o2"}
    # 90000 g is 90 kg: canonical UCUM comparison across units
    assert await id_set(
        record, "Observation", {"value-quantity": "gt80|http://unitsofmeasure.org|kg"}
    ) == {"o3"}
    assert await id_set(
        record, "Observation", {"value-quantity": "le1.7|http://unitsofmeasure.org|m"}
    ) == {"o1"}
    assert await id_set(record, "Observation", {"value-quantity": "ge100"}) == {"o1", "o4", "o3"}


async def test_reference_forms(record: httpx.AsyncClient) -> None:
    assert await id_set(record, "Observation", {"subject": "Patient/p1"}) == {"o1", "o2"}
    assert await id_set(record, "Observation", {"patient": "p2"}) == {"o3", "o4"}
    assert await id_set(record, "Observation", {"subject:Patient": "p2"}) == {"o3", "o4"}
    base = "http://testserver/fhir/acme"
    assert await id_set(record, "Observation", {"subject": f"{base}/Patient/p1"}) == {"o1", "o2"}
    assert await id_set(record, "Patient", {"organization": "Organization/org2"}) == {"p2"}


@pytest.mark.parametrize(
    ("resource", "query"),
    [
        (  # one code twice, under two displays
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {
                    "coding": [
                        {"system": "http://loinc.org", "code": "2-2", "display": "First"},
                        {"system": "http://loinc.org", "code": "2-2", "display": "Second"},
                    ]
                },
            },
            "Observation?code=http://loinc.org|2-2",
        ),
        (  # one target at two versions and unversioned
            {
                "resourceType": "Provenance",
                "recorded": "2021-03-01T12:00:00Z",
                "agent": [{"who": {"reference": "Practitioner/dr1"}}],
                "target": [
                    {"reference": "Patient/p3/_history/1"},
                    {"reference": "Patient/p3/_history/2"},
                    {"reference": "Patient/p3"},
                ],
            },
            "Provenance?target=Patient/p3",
        ),
    ],
)
async def test_a_value_held_twice_matches_once(
    record: httpx.AsyncClient, resource: dict[str, object], query: str
) -> None:
    created = (await record.post(str(resource["resourceType"]), json=resource)).json()
    assert await ids(record, query) == [created["id"]]
    counted = (await record.get(f"{query}&_total=accurate&_count=0")).json()
    assert counted["total"] == 1
    # both displays stay searchable
    if resource["resourceType"] == "Observation":
        for display in ("first", "second"):
            assert await ids(record, "Observation", {"code:text": display}) == [created["id"]]


async def test_uri_exact_below_above(record: httpx.AsyncClient) -> None:
    url = "http://acme.org/fhir/ValueSet/vitals"
    assert await id_set(record, "ValueSet", {"url": url}) == {"vs1"}
    assert await id_set(record, "ValueSet", {"url:below": "http://acme.org/fhir"}) == {"vs1"}
    assert await id_set(record, "ValueSet", {"url:above": f"{url}/more/parts"}) == {"vs1"}
    assert await id_set(record, "ValueSet", {"url": "http://acme.org/fhir"}) == set()


async def test_missing(record: httpx.AsyncClient) -> None:
    assert await id_set(record, "Patient", {"birthdate:missing": "true"}) == {"p3"}
    assert await id_set(record, "Patient", {"birthdate:missing": "false"}) == {"p1", "p2"}


async def test_meta_parameters(record: httpx.AsyncClient) -> None:
    assert await id_set(record, "Patient", {"_tag": "urn:tags|vip"}) == {"p1"}
    assert await id_set(
        record, "Patient", {"_profile": "http://example.org/fhir/StructureDefinition/my-patient"}
    ) == {"p1"}


async def test_reference_by_identifier(record: httpx.AsyncClient) -> None:
    assert await id_set(record, "Observation", {"subject:identifier": "urn:mrn|B-2"}) == {"o5"}
    assert await id_set(record, "Observation", {"subject:identifier": "B-2"}) == {"o5"}
    assert await id_set(record, "Observation", {"subject:identifier": "urn:mrn|A-1"}) == set()


async def test_security_and_source(record: httpx.AsyncClient) -> None:
    confidentiality = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
    assert await id_set(record, "Observation", {"_security": f"{confidentiality}|R"}) == {"o5"}
    assert await id_set(record, "Observation", {"_source": "http://lab.example.org/feed#42"}) == {
        "o5"
    }


async def test_list_parameter(record: httpx.AsyncClient) -> None:
    assert await id_set(record, "Patient", {"_list": "l1"}) == {"p1", "p3"}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"birthdate": "1980-13"}, "birthdate"),
        ({"birthdate": "xx1980"}, "birthdate"),
        ({"value-quantity": "abc|http://unitsofmeasure.org|kg"}, "value-quantity"),
        ({"value-quantity": "1|2"}, "value-quantity"),
        ({"family:sounds-like": "x"}, "family:sounds-like"),
        ({"gender:in": "http://hl7.org/fhir/ValueSet/administrative-gender"}, "gender:in"),
        ({"gender.name": "x"}, "gender.name"),
        ({"birthdate:missing": "maybe"}, "birthdate:missing"),
        # other scripts' digits, and what Python's Decimal() would also read
        ({"birthdate": "\uff12020"}, "birthdate"),
        ({"value-quantity": ".5"}, "value-quantity"),
        ({"value-quantity": "5."}, "value-quantity"),
        ({"value-quantity": "1_000"}, "value-quantity"),
        ({"value-quantity": "\uff11"}, "value-quantity"),
        ({"_count": "\u00b2"}, "_count"),
        ({"_id": ""}, "_id"),
        ({"birthdate": "2020-01-01T10:00:00+99:99"}, "birthdate"),
        # exponents past what a decimal computes, or a float holds (were 500s)
        ({"value-quantity": "1e999999999"}, "value-quantity"),
        ({"value-quantity": "1e-999999999|http://unitsofmeasure.org|mg"}, "value-quantity"),
        ({"value-quantity": "gt1e999999"}, "value-quantity"),
        ({"component-value-quantity": "1e9999999"}, "component-value-quantity"),
    ],
)
async def test_malformed_values_are_400_naming_the_parameter(
    record: httpx.AsyncClient, params: dict[str, str], named: str
) -> None:
    body = await outcome(record, "Patient" if "value" not in named else "Observation", params)
    assert body["issue"][0]["expression"] == [named]


async def test_a_count_in_other_digits_is_400_in_history_too(record: httpx.AsyncClient) -> None:
    for path in ("Patient/_history", "_history", "Patient/p1/$everything"):
        response = await record.get(path, params={"_count": "\u00b2"})
        assert response.status_code == 400, path


async def test_contains_a_nul_matches_nothing(record: httpx.AsyncClient) -> None:
    assert await id_set(record, "Patient", {"name:contains": "\x00"}) == set()


@pytest.mark.parametrize(
    "value",
    ['{"$where": "sleep(1000)"}', "{'$ne': null}", "' OR 1=1 --", ".*", "%", "_", "$gt", "a\\"],
)
async def test_hostile_values_are_plain_text(record: httpx.AsyncClient, value: str) -> None:
    for param in (
        "name",
        "family:exact",
        "family:contains",
        "identifier",
        "gender:not",
        "organization",
    ):
        response = await record.get("Patient", params={param: value})
        assert response.status_code == 200, (param, response.text)
        found = {e["resource"]["id"] for e in response.json().get("entry", [])}
        assert found == ({"p1", "p2", "p3"} if param == "gender:not" else set())
    assert await ids(record, "Patient", {"_id": value}) == []
