"""Composite parameters: the components must hold together on one element
(search.html#composite)."""

from __future__ import annotations

import httpx

from tests.api.search.dataset import FHIR_JSON, LOINC, UCUM
from tests.api.search.helpers import id_set, outcome


async def test_code_value_quantity(record: httpx.AsyncClient) -> None:
    assert await id_set(
        record, "Observation", {"code-value-quantity": f"{LOINC}|8302-2$gt170"}
    ) == {"o4"}
    assert await id_set(record, "Observation", {"code-value-quantity": "8302-2$lt170"}) == {"o1"}
    # 90000 g is 90 kg: canonical UCUM units inside the composite too
    heavy = f"{LOINC}|29463-7$gt80|{UCUM}|kg"
    assert await id_set(record, "Observation", {"code-value-quantity": heavy}) == {"o3"}
    either = f"{LOINC}|8302-2$gt170,{LOINC}|29463-7$le65"
    assert await id_set(record, "Observation", {"code-value-quantity": either}) == {"o4", "o2"}
    # ne: outside the value's precision range, on the same element as the code
    unequal = {"code-value-quantity": f"{LOINC}|8302-2$ne170"}
    assert await id_set(record, "Observation", unequal) == {"o1", "o4"}
    unequal = {"code-value-quantity": f"{LOINC}|8302-2$ne165"}
    assert await id_set(record, "Observation", unequal) == {"o4"}


async def test_components_must_come_from_the_same_element(client: httpx.AsyncClient) -> None:
    bp = {
        "resourceType": "Observation",
        "id": "bp",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                "valueQuantity": {"value": 110, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"},
            },
            {
                "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                "valueQuantity": {"value": 70, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"},
            },
        ],
    }
    assert (await client.put("Observation/bp", json=bp, headers=FHIR_JSON)).status_code == 201
    param = "component-code-value-quantity"
    assert await id_set(client, "Observation", {param: f"{LOINC}|8480-6$gt100"}) == {"bp"}
    # systolic is 110 and diastolic 70: no single component is a diastolic above 100
    assert await id_set(client, "Observation", {param: f"{LOINC}|8462-4$gt100"}) == set()
    assert await id_set(client, "Observation", {param: f"{LOINC}|8462-4$lt100"}) == {"bp"}


async def test_bad_composite_values_are_400(record: httpx.AsyncClient) -> None:
    body = await outcome(record, "Observation", {"code-value-quantity": "8302-2"})
    assert body["issue"][0]["expression"] == ["code-value-quantity"]
    await outcome(record, "Observation", {"code-value-quantity": "8302-2$abc"})


async def test_composites_are_claimed(client: httpx.AsyncClient) -> None:
    statement = (await client.get("metadata")).json()
    observation = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Observation")
    claimed = {p["name"]: p["type"] for p in observation["searchParam"]}
    assert claimed["code-value-quantity"] == "composite"
    assert claimed["component-code-value-quantity"] == "composite"


async def test_composite_numbers_compare_the_stated_value(client: httpx.AsyncClient) -> None:
    obs = {
        "resourceType": "Observation",
        "id": "mg",
        "status": "final",
        "code": {"coding": [{"system": "urn:codes", "code": "A"}]},
        "valueQuantity": {"value": 100, "unit": "mg", "system": UCUM, "code": "mg"},
    }
    await client.put("Observation/mg", json=obs, headers=FHIR_JSON)
    for value, expected in (
        ("100.0", {"mg"}),
        ("gt99.7", {"mg"}),
        ("lt100.3", {"mg"}),
        ("ge100.3", set()),
        ("le99.7", set()),
        ("ne100", set()),
        ("ne101", {"mg"}),
        ("ap95", {"mg"}),  # within 10 % of 95
        ("ap80", set()),
        (f"0.1|{UCUM}|g", {"mg"}),
    ):
        found = await id_set(client, "Observation", {"code-value-quantity": f"urn:codes|A${value}"})
        assert found == expected, value
    # the same answers as the plain parameter
    assert await id_set(client, "Observation", {"value-quantity": "ge100.3"}) == set()


async def test_composite_date_sa_and_eb(client: httpx.AsyncClient) -> None:
    obs = {
        "resourceType": "Observation",
        "id": "period",
        "status": "final",
        "code": {"coding": [{"system": "urn:codes", "code": "C"}]},
        "valuePeriod": {"start": "2020-01-01", "end": "2020-12-31"},
    }
    await client.put("Observation/period", json=obs, headers=FHIR_JSON)
    assert (
        await id_set(client, "Observation", {"code-value-date": "urn:codes|C$sa2020-02"}) == set()
    )
    assert (
        await id_set(client, "Observation", {"code-value-date": "urn:codes|C$eb2020-06"}) == set()
    )
    assert await id_set(client, "Observation", {"code-value-date": "urn:codes|C$sa2019-06"}) == {
        "period"
    }
    assert await id_set(client, "Observation", {"code-value-date": "urn:codes|C$2020-06"}) == set()
    assert await id_set(client, "Observation", {"code-value-date": "urn:codes|C$ge2020-06"}) == {
        "period"
    }
    for value, expected in (
        ("ne2020", set()),  # the period is the year 2020
        ("ne2020-06", {"period"}),
        ("ap2020-06", {"period"}),  # 10 % of the years since then reaches into the period
        ("ap1990", set()),
    ):
        found = await id_set(client, "Observation", {"code-value-date": f"urn:codes|C${value}"})
        assert found == expected, value
