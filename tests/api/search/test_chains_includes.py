"""Chains, reverse chains, includes, compartments and system search."""

from __future__ import annotations

import httpx
import pytest

from fhir_server.storage.sqlite import search_walks
from tests.api.search.helpers import id_set, outcome


@pytest.fixture(params=["resolved first", "probed per candidate"])
def set_walks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite resolves a chain or a `_has` with few matches into a set first and probes
    each candidate otherwise: both must find the same resources."""
    if request.param == "probed per candidate":
        monkeypatch.setattr(search_walks, "SMALL_SET", 0)


@pytest.mark.usefixtures("set_walks")
async def test_chain_one_and_two_levels(record: httpx.AsyncClient) -> None:
    assert await id_set(record, "Observation", {"subject:Patient.name": "müller"}) == {"o1", "o2"}
    assert await id_set(record, "Observation", {"subject.gender": "male"}) == {"o3", "o4"}
    two_levels = {"patient.organization.name": "globex"}
    assert await id_set(record, "Observation", two_levels) == {"o3", "o4"}
    assert await id_set(record, "Patient", {"general-practitioner.name": "kildare"}) == {"p1"}
    assert (
        await id_set(record, "Patient", {"general-practitioner:Practitioner.family": "nobody"})
        == set()
    )


async def test_chain_through_non_reference_is_400(record: httpx.AsyncClient) -> None:
    body = await outcome(record, "Patient", {"birthdate.name": "x"})
    assert "not a reference" in body["issue"][0]["diagnostics"]


@pytest.mark.usefixtures("set_walks")
async def test_has_and_nested_has(record: httpx.AsyncClient) -> None:
    assert await id_set(
        record, "Patient", {"_has:Observation:patient:code": "http://loinc.org|29463-7"}
    ) == {"p1", "p2"}
    assert await id_set(record, "Patient", {"_has:Observation:patient:status": "amended"}) == {"p2"}
    nested = {"_has:Observation:patient:_has:Provenance:target:agent": "Practitioner/dr1"}
    assert await id_set(record, "Patient", nested) == {"p1"}
    assert await id_set(
        record, "Practitioner", {"_has:PractitionerRole:practitioner:organization.name": "acme"}
    ) == {"dr1"}


async def test_has_with_bad_parts_is_400(record: httpx.AsyncClient) -> None:
    await outcome(record, "Patient", {"_has:Observation:code:status": "final"})
    await outcome(record, "Patient", {"_has:Nothing:patient:status": "final"})


async def test_include_and_revinclude(record: httpx.AsyncClient) -> None:
    response = await record.get(
        "Observation",
        params={"_id": "o1", "_include": "Observation:subject", "_revinclude": "Provenance:target"},
    )
    bundle = response.json()
    modes = {
        (e["resource"]["resourceType"], e["resource"]["id"]): e["search"]["mode"]
        for e in bundle["entry"]
    }
    assert modes == {
        ("Observation", "o1"): "match",
        ("Patient", "p1"): "include",
        ("Provenance", "prov1"): "include",
    }
    assert bundle["total"] == 1


async def test_include_iterate_and_wildcard(record: httpx.AsyncClient) -> None:
    params = [
        ("_id", "o3"),
        ("_include", "Observation:patient"),
        ("_include:iterate", "Patient:organization"),
    ]
    bundle = (await record.get("Observation", params=params)).json()
    found = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]}
    assert found == {("Observation", "o3"), ("Patient", "p2"), ("Organization", "org2")}
    star = (await record.get("Patient", params={"_id": "p1", "_include": "Patient:*"})).json()
    included = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in star["entry"][1:]}
    assert included == {("Practitioner", "dr1"), ("Organization", "org1")}


async def test_compartment_search(record: httpx.AsyncClient) -> None:
    assert await id_set(record, "Patient/p1/Observation") == {"o1", "o2"}
    assert await id_set(record, "Patient/p1/Observation", {"code": "http://loinc.org|8302-2"}) == {
        "o1"
    }
    assert await id_set(record, "Patient/p1/Encounter") == {"e1"}
    assert await id_set(record, "Patient/p2/Encounter") == set()


@pytest.mark.usefixtures("set_walks")
@pytest.mark.parametrize(
    ("sort", "expected"), [(None, ["o1", "o2"]), ("-date", ["o2", "o1"]), ("date", ["o1", "o2"])]
)
async def test_compartment_pages_one_by_one(
    record: httpx.AsyncClient, sort: str | None, expected: list[str]
) -> None:
    seen: list[str] = []
    url: str | None = "Patient/p1/Observation?_count=1" + (f"&_sort={sort}" if sort else "")
    while url:
        page = (await record.get(url)).json()
        seen += [e["resource"]["id"] for e in page.get("entry", [])]
        url = next((k["url"] for k in page["link"] if k["relation"] == "next"), None)
    assert seen == expected


async def test_system_search_with_type(record: httpx.AsyncClient) -> None:
    found = await id_set(record, "", {"_type": "Patient,Organization", "_id": "p1,org2,o1"})
    assert found == {"p1", "org2"}
    everything = await id_set(record, "", {"_id": "o1,prov1"})
    assert everything == {"o1", "prov1"}
    await outcome(record, "", {"_type": "Nothing"})


async def test_sort_multiple_keys_and_directions(record: httpx.AsyncClient) -> None:
    response = await record.get("Observation", params={"_sort": "-date"})
    assert [e["resource"]["id"] for e in response.json()["entry"]] == ["o4", "o2", "o1", "o3", "o5"]
    response = await record.get("Observation", params={"_sort": "code,-date"})
    by_code = [e["resource"]["id"] for e in response.json()["entry"]]
    assert by_code == ["o2", "o3", "o4", "o1", "o5"]  # o5 has no code: missing values last
    patients = await record.get("Patient", params={"_sort": "birthdate"})
    assert [e["resource"]["id"] for e in patients.json()["entry"]] == ["p2", "p1", "p3"]
    await outcome(record, "Patient", {"_sort": "nonsense"})


async def test_sorted_paging_walks_every_match_once(record: httpx.AsyncClient) -> None:
    seen: list[str] = []
    url: str | None = "Observation?_sort=-date&_count=1"
    while url:
        page = (await record.get(url)).json()
        seen += [e["resource"]["id"] for e in page.get("entry", [])]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert seen == ["o4", "o2", "o1", "o3", "o5"]


async def test_total_modes(record: httpx.AsyncClient) -> None:
    accurate = (await record.get("Observation", params={"_total": "accurate"})).json()
    assert accurate["total"] == 5
    none = (await record.get("Observation", params={"_total": "none"})).json()
    assert "total" not in none
    estimate = (await record.get("Observation", params={"_total": "estimate"})).json()
    assert estimate["total"] == 5


async def test_absolute_references_to_other_servers_are_not_local(
    record: httpx.AsyncClient,
) -> None:
    elsewhere = {
        "resourceType": "Observation",
        "id": "remote",
        "status": "final",
        "code": {"text": "from elsewhere"},
        "subject": {"reference": "http://other-hospital.example/fhir/Patient/p1"},
    }
    await record.put(
        "Observation/remote", json=elsewhere, headers={"Content-Type": "application/fhir+json"}
    )
    assert "remote" not in await id_set(record, "Patient/p1/Observation")
    assert "remote" not in await id_set(record, "Observation", {"subject": "Patient/p1"})
    assert "remote" not in await id_set(record, "Patient/p1/$everything")
    found = await id_set(
        record, "Observation", {"subject": "http://other-hospital.example/fhir/Patient/p1"}
    )
    assert found == {"remote"}


@pytest.mark.parametrize(("sort", "expected"), [("-date", ["o2", "o3"]), ("date", ["o3", "o2"])])
async def test_sorted_equality_is_the_same_sorted_whole_or_walked_in_sort_order(
    record: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, sort: str, expected: list[str]
) -> None:
    # SQLite sorts the matches of an equality when they are few, and walks the sort
    # parameter's index checking the equality per row when they are many.
    async def walk_pages() -> list[str]:
        seen: list[str] = []
        url: str | None = f"Observation?code=http://loinc.org|29463-7&_sort={sort}&_count=1"
        while url:
            page = (await record.get(url)).json()
            seen += [e["resource"]["id"] for e in page.get("entry", [])]
            url = next((k["url"] for k in page["link"] if k["relation"] == "next"), None)
        return seen

    assert await walk_pages() == expected
    monkeypatch.setattr(search_walks, "SORT_CAP", 1)
    assert await walk_pages() == expected
