"""The edges of a searchset: counts, links, limits and sort order (search.html, http.html)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fhir_server.interactions import includes
from tests.api.resources import FHIR_JSON, observation, patient
from tests.api.search.helpers import ids, outcome


def _link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((k["url"] for k in bundle["link"] if k["relation"] == relation), None)


async def _patients(client: httpx.AsyncClient, count: int) -> list[str]:
    made = []
    for n in range(count):
        response = await client.post("Patient", json=patient(f"P{n}"), headers=FHIR_JSON)
        made.append(response.json()["id"])
    return made


@pytest.mark.parametrize("zero", ["0", "00"])
async def test_count_zero_reports_the_total_like_summary_count(
    client: httpx.AsyncClient, zero: str
) -> None:
    await _patients(client, 3)
    bundle = (await client.get("Patient", params={"_count": zero})).json()
    assert bundle["total"] == 3 and "entry" not in bundle


async def test_links_keep_the_format_and_the_count_served(client: httpx.AsyncClient) -> None:
    await _patients(client, 3)
    page = await client.get("Patient", params={"_count": ["7", "1"], "_format": "xml"})
    assert page.headers["content-type"].startswith("application/fhir+xml")
    json_page = (await client.get("Patient", params={"_count": "5000"})).json()
    assert "_count=1000" in _link(json_page, "self")  # the server's ceiling, as served
    bundle = (await client.get("Patient", params={"_count": ["7", "1"], "_format": "json"})).json()
    next_url = _link(bundle, "next")
    assert next_url is not None and "_format=json" in next_url and "_count=7" not in next_url
    followed = await client.get(next_url, headers={"Accept": "application/fhir+xml"})
    assert followed.headers["content-type"].startswith("application/fhir+json")


@pytest.mark.parametrize(
    ("content", "content_type"),
    [('{"family": "P1"}', "application/json"), ("family=P1", "text/plain")],
)
async def test_a_search_body_that_is_no_form_is_refused(
    client: httpx.AsyncClient, content: str, content_type: str
) -> None:
    response = await client.post(
        "Patient/_search", content=content, headers={"Content-Type": content_type}
    )
    assert response.status_code == 415
    assert "application/x-www-form-urlencoded" in response.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    "params",
    [
        [("family", f"x{n}") for n in range(500)],  # overflowed SQLite's expression depth
        [("_has:Observation:subject:code", f"c{n}") for n in range(100)],
        [("family", ",".join(f"x{n}" for n in range(100)))] * 8,
        [("_sort", ",".join(["family"] * 20))],
    ],
)
async def test_an_oversized_search_is_a_400(
    client: httpx.AsyncClient, params: list[tuple[str, str]]
) -> None:
    body = await outcome(client, "Patient", params)
    assert "at most" in body["issue"][0]["diagnostics"]


async def test_a_search_whose_next_link_could_not_be_followed_is_a_400(
    client: httpx.AsyncClient,
) -> None:
    await _patients(client, 2)
    long_values = ",".join(["P"] + ["x" * 700] * 60)  # ~42 KB of criteria
    response = await client.post("Patient/_search", data={"family": long_values, "_count": "1"})
    assert response.status_code == 400
    assert "too long to page" in response.json()["issue"][0]["diagnostics"]
    # the same search on one page needs no link to follow
    whole = await client.post("Patient/_search", data={"family": long_values})
    assert whole.status_code == 200 and len(whole.json()["entry"]) == 2


async def test_includes_cut_at_the_limit_say_so(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(includes, "MAX_INCLUDED", 2)
    (pid,) = await _patients(client, 1)
    for n in range(3):
        obs = observation(f"Patient/{pid}", f"o{n}")
        await client.post("Observation", json=obs, headers=FHIR_JSON)
    bundle = (await client.get("Patient", params={"_revinclude": "Observation:subject"})).json()
    modes = [e["search"]["mode"] for e in bundle["entry"]]
    assert modes == ["match", "include", "include", "outcome"]
    warning = bundle["entry"][-1]["resource"]
    assert warning["resourceType"] == "OperationOutcome"
    assert warning["issue"][0]["code"] == "incomplete"
    monkeypatch.setattr(includes, "MAX_INCLUDED", 3)
    complete = await client.get("Patient", params={"_revinclude": "Observation:subject"})
    assert [e["search"]["mode"] for e in complete.json()["entry"]] == ["match"] + ["include"] * 3


@pytest.mark.parametrize("descending", [False, True])
async def test_numbers_and_quantities_sort_by_value_not_by_precision(
    client: httpx.AsyncClient, descending: bool
) -> None:
    values = ["1", "0.55", "0.6", "2", "1.6", "10", "9.6"]
    for n, value in enumerate(values):
        quantity = f'{{"value":{value},"system":"http://unitsofmeasure.org","code":"mg"}}'
        body = (
            f'{{"resourceType":"Observation","id":"q{n}","status":"final",'
            f'"code":{{"text":"w"}},"valueQuantity":{quantity}}}'
        )
        await client.put(f"Observation/q{n}", content=body, headers=FHIR_JSON)
    sort = "-value-quantity" if descending else "value-quantity"
    bundle = (await client.get("Observation", params={"_sort": sort, "_count": "3"})).json()
    seen = []
    page: dict[str, Any] | None = bundle
    while page is not None:
        seen += [e["resource"]["valueQuantity"]["value"] for e in page.get("entry", [])]
        url = _link(page, "next")
        page = (await client.get(url)).json() if url else None
    assert seen == sorted((float(v) for v in values), reverse=descending)


async def _put(client: httpx.AsyncClient, resource: dict[str, Any]) -> None:
    path = f"{resource['resourceType']}/{resource['id']}"
    response = await client.put(path, json=resource, headers=FHIR_JSON)
    assert response.status_code == 201, response.text


def _risk(rid: str, prediction: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "RiskAssessment",
        "id": rid,
        "status": "final",
        "subject": {"reference": "Patient/x"},
        "prediction": [prediction],
    }


def _weight(oid: str, quantity: dict[str, Any]) -> dict[str, Any]:
    unit = {"system": "http://unitsofmeasure.org", "code": "mg"}
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"text": "w"},
        "valueQuantity": {**quantity, **unit},
    }


async def test_prefixes_meet_a_true_range_by_overlap_and_a_value_by_its_value(
    client: httpx.AsyncClient,
) -> None:
    # search.html#prefix: gt - the range above the search value intersects the target's
    # range; eq - the search value's range contains the target's
    await _put(
        client, _risk("span", {"probabilityRange": {"low": {"value": 1}, "high": {"value": 10}}})
    )
    await _put(client, _risk("from50", {"probabilityRange": {"low": {"value": 50}}}))
    await _put(client, _risk("eight", {"probabilityDecimal": 8.0}))
    found = {
        query: await ids(client, "RiskAssessment", {"probability": query})
        for query in ("gt8", "lt2", "lt60", "eq5", "ge8", "le8", "sa8", "sa0", "eb11", "eb2")
    }
    assert sorted(found["gt8"]) == ["from50", "span"]  # 8.0 is not above 8
    assert sorted(found["lt2"]) == ["span"]
    assert sorted(found["lt60"]) == ["eight", "from50", "span"]
    assert found["eq5"] == []  # [1, 10] is not within [4.5, 5.5)
    assert sorted(found["ge8"]) == ["eight", "from50", "span"]
    assert sorted(found["le8"]) == ["eight", "span"]
    # sa: all of the target above the value; eb: all of it below
    assert found["sa8"] == ["from50"] and sorted(found["sa0"]) == ["eight", "from50", "span"]
    assert sorted(found["eb11"]) == ["eight", "span"] and found["eb2"] == []
    exact = {"low": {"value": 5}, "high": {"value": 5}}
    await _put(client, _risk("five", {"probabilityRange": exact}))
    assert await ids(client, "RiskAssessment", {"probability": "eq5"}) == ["five"]


async def test_a_quantity_with_a_comparator_is_a_range(client: httpx.AsyncClient) -> None:
    await _put(client, _weight("below5", {"value": 5, "comparator": "<"}))
    await _put(client, _weight("above5", {"value": 5, "comparator": ">"}))
    await _put(client, _weight("five", {"value": 5}))
    unit = "|http://unitsofmeasure.org|mg"
    assert sorted(await ids(client, "Observation", {"value-quantity": "gt3" + unit})) == [
        "above5",
        "below5",
        "five",
    ]
    assert sorted(await ids(client, "Observation", {"value-quantity": "lt7" + unit})) == [
        "above5",
        "below5",
        "five",
    ]
    assert await ids(client, "Observation", {"value-quantity": "gt5" + unit}) == ["above5"]
    await _put(client, _weight("atmost5", {"value": 5, "comparator": "<="}))
    ge5 = await ids(client, "Observation", {"value-quantity": "ge5" + unit})
    assert {"above5", "atmost5", "five"} <= set(ge5)
    # a stated value's middle is computed in floating point: its noise is no difference
    assert await ids(client, "Observation", {"value-quantity": "gt5" + unit}) == ["above5"]
    assert "five" in await ids(client, "Observation", {"value-quantity": "le5" + unit})
    await _put(client, _weight("point6", {"value": 0.6}))
    assert "point6" not in await ids(client, "Observation", {"value-quantity": "gt0.6" + unit})
    assert "point6" not in await ids(client, "Observation", {"value-quantity": "gt0.6"})
    assert await ids(client, "Observation", {"value-quantity": "5" + unit}) == ["five"]
    # more digits than a double holds: the precision range collapses to a point, which
    # still matches the value it was read from (it matched nothing)
    await _put(client, _weight("precise", {"value": 123456789.123456789}))
    exact = {"value-quantity": "123456789.123456789"}
    assert await ids(client, "Observation", exact) == ["precise"]
    assert await ids(client, "Observation", {"value-quantity": "123456789.1235"}) == ["precise"]
    assert await ids(client, "Observation", {"value-quantity": "123456789.124"}) == []
    ne = {"value-quantity": "ne123456789.123456789"}
    assert "precise" not in await ids(client, "Observation", ne)
