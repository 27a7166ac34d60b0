"""Chains, reverse chains, includes, compartments and system search."""

from __future__ import annotations

import httpx
import pytest

from fhir_server.search.compartment import default_patient_compartment
from fhir_server.storage.sqlite import search_walks
from tests.api.resources import observation
from tests.api.search.dataset import put
from tests.api.search.helpers import id_set, outcome, paged_ids


@pytest.fixture(params=["from the far end", "resolved first", "probed per candidate"])
def set_walks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite walks a chain whose levels refer at most once from its far end; otherwise
    it resolves a chain or a `_has` with few matches into a set first, and probes each
    candidate past that: every way must find the same resources."""
    if request.param != "from the far end":
        monkeypatch.setattr(search_walks, "chain_walk", lambda *_: None)
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


async def _chain_dataset(client: httpx.AsyncClient) -> set[str]:
    """Two organizations named North..., one South; their patients and Observations. The
    ids of the Observations that `patient.organization.name=north` must find."""
    for oid, name in [("n1", "North Clinic"), ("n2", "Northwind Care"), ("s1", "South")]:
        await put(client, {"resourceType": "Organization", "id": oid, "name": name})
    homes = {"pa": "n1", "pb": "n2", "pc": "n1", "pd": "s1", "pe": "n1"}
    for pid, org in homes.items():
        await put(client, _patient(pid, org))
    expected = set()
    for pid, org in homes.items():
        for n in range(3):
            # one Observation names its patient's version, which the chain still follows
            subject = f"Patient/{pid}/_history/1" if n == 2 and pid == "pa" else f"Patient/{pid}"
            await put(client, {"id": f"{pid}-{n}", **observation(subject)})
            if org != "s1" and pid != "pe":
                expected.add(f"{pid}-{n}")
    assert (await client.delete("Patient/pe")).status_code in (200, 204)
    return expected


def _patient(pid: str, org: str, **extra: object) -> dict[str, object]:
    reference = {"reference": f"Organization/{org}"}
    return {"resourceType": "Patient", "id": pid, "managingOrganization": reference, **extra}


@pytest.mark.usefixtures("set_walks")
async def test_chain_pages_walk_every_match_once(client: httpx.AsyncClient) -> None:
    expected = await _chain_dataset(client)
    url = "Observation?patient.organization.name=north&_count=2"
    seen = await paged_ids(client, url)
    assert sorted(seen) == sorted(expected)
    assert await id_set(client, "Observation", {"patient.organization.name": "north"}) == expected


@pytest.mark.usefixtures("set_walks")
async def test_chain_pages_survive_updates_of_the_resources_they_pass(
    client: httpx.AsyncClient,
) -> None:
    # An update writes a resource's index rows anew: a walk from the far end must not
    # position its cursor by anything that changes then.
    expected = await _chain_dataset(client)
    page = (await client.get("Observation?patient.organization.name=north&_count=1")).json()
    seen = [e["resource"]["id"] for e in page["entry"]]
    for pid in ("pa", "pb", "pc"):
        await put(client, _patient(pid, {"pa": "n1", "pb": "n2", "pc": "n1"}[pid], active=True))
    await put(client, {"id": seen[0], **observation("Patient/" + seen[0][:2], "again")})
    for org, name in [("n1", "North Clinic"), ("n2", "Northwind Care")]:
        await put(client, {"resourceType": "Organization", "id": org, "name": name, "active": True})
    next_url = next(k["url"] for k in page["link"] if k["relation"] == "next")
    seen += await paged_ids(client, next_url)
    assert sorted(seen) == sorted(expected)


async def test_an_untyped_chain_into_has_covers_the_types_has_can_reach(
    client: httpx.AsyncClient,
) -> None:
    # Observation.subject may point to a Device, which no Condition.subject points to:
    # that type drops out instead of failing the search
    await put(client, {"resourceType": "Patient", "id": "sick"})
    await put(client, {"id": "seen", **observation("Patient/sick")})
    condition = {"resourceType": "Condition", "id": "c1", "code": {"text": "dx"}}
    await put(client, {**condition, "subject": {"reference": "Patient/sick"}})
    chain = {"subject._has:Condition:subject:code:text": "dx"}
    assert await id_set(client, "Observation", chain) == {"seen"}


async def test_chains_are_bounded_in_depth_and_in_the_types_they_fan_out_to(
    client: httpx.AsyncClient,
) -> None:
    # `focus` may point to any of ~145 types: each level of chaining multiplied the parsed
    # conditions by 145, which took seconds of CPU before a 500
    fanned = "focus._has:Task:focus:focus._has:Task:focus:_id"
    body = await outcome(client, "Task", {fanned: "x"})
    assert fanned in body["issue"][0]["diagnostics"]
    assert body["issue"][0]["expression"] == [fanned]
    deep = "organization" + ".partof" * 8 + ".name"
    body = await outcome(client, "Patient", {deep: "x"})
    assert "deeper than 8" in body["issue"][0]["diagnostics"]
    assert (await client.get("Task", params={"focus._id": "x"})).status_code == 200


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


@pytest.mark.usefixtures("set_walks")
async def test_chain_and_has_totals_count_current_matches(record: httpx.AsyncClient) -> None:
    """`_count=0` makes the server count rather than read a page: a chain or `_has` the
    page would probe is counted from its set (or probed, when the set is the larger)."""

    async def total(resource_type: str, params: dict[str, str]) -> int:
        query = {**params, "_total": "accurate", "_count": "0"}
        return int((await record.get(resource_type, params=query)).json()["total"])

    weight = {"_has:Observation:patient:code": "http://loinc.org|29463-7"}
    assert await total("Observation", {"subject.gender": "male"}) == 2
    assert await total("Observation", {"patient.organization.name": "globex"}) == 2
    assert await total("Patient", weight) == 2
    assert await total("Patient", {"_has:Observation:patient:status": "final"}) == 2
    assert (await record.delete("Patient/p2")).status_code in (200, 204)
    # o3 and o4 still refer to the deleted p2: neither side may count it any more
    assert await total("Observation", {"subject.gender": "male"}) == 0
    assert await total("Patient", weight) == 1
    assert await total("Patient", {"_has:Observation:patient:status": "final"}) == 1


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


async def test_include_iterate_star_follows_every_reference_of_what_it_added(
    record: httpx.AsyncClient,
) -> None:
    # search.html#include: `*` is every reference parameter, `:iterate` repeats on the
    # resources included; the Patient's own references count in the second round
    def found(bundle: dict) -> set[tuple[str, str]]:
        return {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]}

    once = (await record.get("Observation", params={"_id": "o3", "_include": "*"})).json()
    assert found(once) == {("Observation", "o3"), ("Patient", "p2")}
    params = {"_id": "o3", "_include:iterate": "*"}
    iterated = (await record.get("Observation", params=params)).json()
    assert found(iterated) == {("Observation", "o3"), ("Patient", "p2"), ("Organization", "org2")}


async def test_compartment_search(record: httpx.AsyncClient) -> None:
    assert await id_set(record, "Patient/p1/Observation") == {"o1", "o2"}
    assert await id_set(record, "Patient/p1/Observation", {"code": "http://loinc.org|8302-2"}) == {
        "o1"
    }
    assert await id_set(record, "Patient/p1/Encounter") == {"e1"}
    assert await id_set(record, "Patient/p2/Encounter") == set()
    # http.html#search: POST [base]/[compartment]/[id]/[type]/_search, a form body
    posted = await record.post(
        "Patient/p1/Observation/_search",
        content="code=http://loinc.org|8302-2",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert posted.status_code == 200
    assert [e["resource"]["id"] for e in posted.json()["entry"]] == ["o1"]


async def test_compartment_search_across_every_type(record: httpx.AsyncClient) -> None:
    # http.html#search: GET [base]/Patient/[id]/* and POST [base]/Patient/[id]/_search;
    # each type by its own compartment parameters
    every = set()
    for rtype in sorted(default_patient_compartment().resource_types | {"Patient"}):
        every |= {(rtype, i) for i in await id_set(record, f"Patient/p1/{rtype}")}
    assert {("Patient", "p1"), ("Observation", "o1"), ("Encounter", "e1")} <= every
    page = (await record.get("Patient/p1/*", params={"_count": "100"})).json()
    found = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in page["entry"]}
    assert found == every
    assert page["total"] == len(every)
    only = await record.get("Patient/p1/*", params={"_type": "Observation,Organization"})
    assert {e["resource"]["id"] for e in only.json()["entry"]} == {"o1", "o2"}
    posted = await record.post(
        "Patient/p1/_search",
        content="_type=Encounter",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert [e["resource"]["id"] for e in posted.json()["entry"]] == ["e1"]
    listed = {"resourceType": "List", "id": "picked", "status": "current", "mode": "working"}
    listed["entry"] = [{"item": {"reference": "Observation/o1"}}]
    await put(record, listed)
    assert await id_set(record, "Patient/p1/*", {"_list": "picked"}) == {"o1"}
    assert await id_set(record, "", {"_list": "picked"}) == {"o1"}
    paged = await paged_ids(record, "Patient/p1/*?_count=1")
    assert sorted(paged) == sorted(i for _, i in every)
    await outcome(record, "Patient/p1/*", {"_type": "Organization"})


@pytest.mark.usefixtures("set_walks")
@pytest.mark.parametrize(
    ("sort", "expected"), [(None, ["o1", "o2"]), ("-date", ["o2", "o1"]), ("date", ["o1", "o2"])]
)
async def test_compartment_pages_one_by_one(
    record: httpx.AsyncClient, sort: str | None, expected: list[str]
) -> None:
    url = "Patient/p1/Observation?_count=1" + (f"&_sort={sort}" if sort else "")
    assert await paged_ids(record, url) == expected


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


@pytest.mark.parametrize(
    "sort", ["code", "-code", "code,-date", "status,-date", "-status,date,code", "-date,code"]
)
async def test_multi_key_sort_pages_like_a_full_sort(record: httpx.AsyncClient, sort: str) -> None:
    """Without a condition the first key's index is walked (ties ordered by the other keys,
    then the resources without a first value); with `_id` the matches are sorted whole.
    Page by page, one entry each, both give the same order."""
    ids = "o1,o2,o3,o4,o5"
    whole = (await record.get("Observation", params={"_id": ids, "_sort": sort})).json()
    expected = [e["resource"]["id"] for e in whole["entry"]]
    seen = await paged_ids(record, f"Observation?_sort={sort}&_count=1")
    assert seen == expected
    assert len(set(seen)) == 5


@pytest.mark.parametrize("sort", ["-code", "code,-date", "-code,date,status"])
async def test_sort_pages_through_any_value_and_many_without_one(
    client: httpx.AsyncClient, sort: str
) -> None:
    """A code spelled like an internal mark, and several resources without a first sort
    value told apart by the second: paged one by one, the same order as a full sort."""
    codes = ["~missing", "a", None, None, "b", None]
    dates = ["2020-01-01", "2021-01-01", "2022-01-01", "2019-01-01", None, "2023-01-01"]
    for n, (code, date) in enumerate(zip(codes, dates, strict=True)):
        obs: dict[str, object] = {"resourceType": "Observation", "id": f"x{n}", "status": "final"}
        obs["code"] = {"coding": [{"system": "urn:s", "code": code}]} if code else {"text": "t"}
        if date:
            obs["effectiveDateTime"] = date
        assert (await client.put(f"Observation/x{n}", json=obs)).status_code == 201
    ids = ",".join(f"x{n}" for n in range(len(codes)))
    whole = (await client.get("Observation", params={"_id": ids, "_sort": sort})).json()
    expected = [e["resource"]["id"] for e in whole["entry"]]
    assert len(expected) == len(codes)
    assert await paged_ids(client, f"Observation?_sort={sort}&_count=1") == expected


async def test_sorted_paging_walks_every_match_once(record: httpx.AsyncClient) -> None:
    seen = await paged_ids(record, "Observation?_sort=-date&_count=1")
    assert seen == ["o4", "o2", "o1", "o3", "o5"]


async def test_total_modes(record: httpx.AsyncClient) -> None:
    accurate = (await record.get("Observation", params={"_total": "accurate"})).json()
    assert accurate["total"] == 5
    none = (await record.get("Observation", params={"_total": "none"})).json()
    assert "total" not in none
    estimate = (await record.get("Observation", params={"_total": "estimate"})).json()
    assert estimate["total"] == 5
    # an estimate is exact up to two pages' worth (40 at least), on every page
    first = (await record.get("Observation", params={"_count": "2"})).json()
    assert (first["total"], len(first["entry"])) == (5, 2)
    second_url = next(k["url"] for k in first["link"] if k["relation"] == "next")
    assert (await record.get(second_url)).json()["total"] == 5


async def test_an_estimated_total_is_left_out_past_its_limit(client: httpx.AsyncClient) -> None:
    many = [
        {
            "resource": {"resourceType": "Basic", "code": {"text": "x"}},
            "request": {"method": "POST", "url": "Basic"},
        }
        for _ in range(45)
    ]
    batch = {"resourceType": "Bundle", "type": "batch", "entry": many}
    assert (await client.post("", json=batch)).status_code == 200
    ten = (await client.get("Basic", params={"_count": "10"})).json()
    assert "total" not in ten and len(ten["entry"]) == 10  # 45 > 40
    thirty = (await client.get("Basic", params={"_count": "30"})).json()
    assert thirty["total"] == 45 and len(thirty["entry"]) == 30  # up to 60 counted


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
    url = f"Observation?code=http://loinc.org|29463-7&_sort={sort}&_count=1"
    assert await paged_ids(record, url) == expected
    monkeypatch.setattr(search_walks, "SORT_CAP", 1)
    assert await paged_ids(record, url) == expected
