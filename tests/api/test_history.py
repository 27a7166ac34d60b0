"""history at instance, type and system level (http.html#history)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.resources import FHIR_JSON, patient

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
}


async def _create(client: httpx.AsyncClient, family: str) -> str:
    response = await client.post("Patient", json=patient(family), headers=FHIR_JSON)
    return str(response.json()["id"])


async def test_type_and_system_history_newest_first(client: httpx.AsyncClient) -> None:
    a = await _create(client, "A")
    await client.post(
        "Observation",
        json={"resourceType": "Observation", "status": "final", "code": {"text": "weight"}},
        headers=FHIR_JSON,
    )
    await client.put(f"Patient/{a}", json=patient("A2", id=a), headers=FHIR_JSON)
    type_history = (await client.get("Patient/_history")).json()
    assert [e["resource"]["meta"]["versionId"] for e in type_history["entry"]] == ["2", "1"]
    system = (await client.get("_history")).json()
    assert system["total"] == 3
    kinds = [e["request"]["url"] for e in system["entry"]]
    assert kinds == [f"Patient/{a}", "Observation", "Patient"]


async def test_history_paging_with_count(client: httpx.AsyncClient) -> None:
    pid = await _create(client, "V1")
    for n in range(2, 6):
        await client.put(f"Patient/{pid}", json=patient(f"V{n}", id=pid), headers=FHIR_JSON)
    seen: list[str] = []
    url: str | None = f"Patient/{pid}/_history?_count=2"
    while url:
        page = (await client.get(url)).json()
        assert page["total"] == 5
        seen += [e["resource"]["meta"]["versionId"] for e in page["entry"]]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert seen == ["5", "4", "3", "2", "1"]


async def test_history_since_and_at(client: httpx.AsyncClient) -> None:
    pid = await _create(client, "Old")
    first = (await client.get(f"Patient/{pid}")).json()["meta"]["lastUpdated"]
    second = (
        await client.put(f"Patient/{pid}", json=patient("New", id=pid), headers=FHIR_JSON)
    ).json()
    since = (
        await client.get(
            f"Patient/{pid}/_history", params={"_since": second["meta"]["lastUpdated"]}
        )
    ).json()
    assert [e["resource"]["meta"]["versionId"] for e in since["entry"]] == ["2"]
    at_first = (await client.get(f"Patient/{pid}/_history", params={"_at": first})).json()
    assert [e["resource"]["meta"]["versionId"] for e in at_first["entry"]] == ["1"]


@pytest.mark.parametrize(
    # an instant has seconds and a zone (datatypes.html#instant): a time read in some
    # zone the client did not say would move the window by hours
    "since",
    ["yesterday", "2026-11-27", "2026-11-27T05:06:25.077", "2026-11-27T05:06Z"],
)
async def test_history_since_must_be_an_instant(client: httpx.AsyncClient, since: str) -> None:
    response = await client.get("Patient/_history", params={"_since": since})
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["_since"]


async def test_the_history_of_a_resource_that_never_existed_is_404(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("Patient/never-there/_history")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
    created = await client.post("Patient", json=patient(), headers=FHIR_JSON)
    url = f"Patient/{created.json()['id']}/_history"
    # one that exists, seen through an empty window, is an empty history
    empty = await client.get(url, params={"_at": "1990-01-01"})
    assert empty.status_code == 200 and empty.json()["total"] == 0


def _links(bundle: dict[str, Any]) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in bundle["link"]}


async def test_history_links_keep_what_shapes_the_answer(client: httpx.AsyncClient) -> None:
    """An XML client following `next` gets XML; what the history did not apply is not in
    its self link (search.html#self)."""
    pid = await _create(client, "V1")
    await client.put(f"Patient/{pid}", json=patient("V2", id=pid), headers=FHIR_JSON)
    params = {"_count": "1", "_format": "xml", "_pretty": "true", "_sort": "x", "foo": "1"}
    first = await client.get("Patient/_history", params=params)
    assert first.headers["content-type"].startswith("application/fhir+xml")
    as_json = await client.get("Patient/_history", params={**params, "_format": "json"})
    links = _links(as_json.json())
    for url in links.values():
        assert "_pretty=true" in url and "_count=1" in url
        assert "_sort" not in url and "foo" not in url
    second = await client.get(links["next"].replace("_format=json", "_format=xml"))
    assert second.status_code == 200
    assert second.headers["content-type"].startswith("application/fhir+xml")
    # the links of the XML answer keep xml, so the next page is XML too
    assert "_format=xml" in second.text


async def test_history_applies_summary_and_elements(client: httpx.AsyncClient) -> None:
    pid = await _create(client, "Summed")
    await client.put(f"Patient/{pid}", json=patient("Summed2", id=pid), headers=FHIR_JSON)
    await client.delete(f"Patient/{pid}")
    url = f"Patient/{pid}/_history"
    elements = (await client.get(url, params={"_elements": "gender"})).json()
    resources = [e["resource"] for e in elements["entry"] if "resource" in e]
    assert len(resources) == 2
    for resource in resources:
        assert "name" not in resource and resource["gender"] == "male"
        assert SUBSETTED in resource["meta"]["tag"]
    assert "_elements=gender" in _links(elements)["self"]
    summary = (await client.get(url, params={"_summary": "true"})).json()
    assert all("identifier" in e["resource"] for e in summary["entry"] if "resource" in e)
    assert all(
        SUBSETTED in e["resource"]["meta"]["tag"] for e in summary["entry"] if "resource" in e
    )
    counted = (await client.get(url, params={"_summary": "count"})).json()
    assert counted["total"] == 3 and "entry" not in counted
    assert (await client.get(url, params={"_summary": "nope"})).status_code == 400


async def test_history_says_a_put_that_brought_a_deleted_resource_back_created_it(
    client: httpx.AsyncClient,
) -> None:
    """http.html#update: a PUT to a deleted resource creates it (201), and its history entry
    says so, whether or not the deletion is on the same page."""
    pid = await _create(client, "Back")
    await client.delete(f"Patient/{pid}")
    revived = await client.put(f"Patient/{pid}", json=patient("Back", id=pid), headers=FHIR_JSON)
    assert revived.status_code == 201
    await client.put(f"Patient/{pid}", json=patient("Back2", id=pid), headers=FHIR_JSON)
    statuses = [
        (e["response"]["etag"], e["response"]["status"])
        for e in (await client.get(f"Patient/{pid}/_history")).json()["entry"]
    ]
    assert statuses == [
        ('W/"4"', "200 OK"),
        ('W/"3"', "201 Created"),
        ('W/"2"', "200 OK"),
        ('W/"1"', "201 Created"),
    ]
    alone = (await client.get(f"Patient/{pid}/_history", params={"_count": "2"})).json()
    assert [e["response"]["status"] for e in alone["entry"]] == ["200 OK", "201 Created"]


async def test_strict_handling_refuses_what_history_does_not_take(
    client: httpx.AsyncClient,
) -> None:
    await _create(client, "Strict")
    strict = {"Prefer": "handling=strict"}
    refused = await client.get("Patient/_history", params={"_sort": "x"}, headers=strict)
    assert refused.status_code == 400
    assert refused.json()["issue"][0]["expression"] == ["_sort"]
    taken = {"_count": "1", "_summary": "true", "_since": "2020-01-01T00:00:00Z"}
    assert (await client.get("_history", params=taken, headers=strict)).status_code == 200
    # lenient (the default): ignored, and left off the links
    assert (await client.get("Patient/_history", params={"_sort": "x"})).status_code == 200
