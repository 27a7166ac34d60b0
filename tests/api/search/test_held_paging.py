"""Paging that holds still (search.html#paging): walking `next` in a value order (`_sort`,
a range or prefix walk) never repeats or skips a resource that existed when the walk
began, whatever is updated, deleted or created meanwhile."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from fhir_server.storage import contracts
from fhir_server.storage.mongo import search_held, search_page
from fhir_server.storage.sqlite import search_walks
from tests.api.resources import FHIR_JSON, patient


def _link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((k["url"] for k in bundle.get("link", []) if k["relation"] == relation), None)


def _born(year: int) -> str:
    return f"{year}-06-15"


async def _put(client: httpx.AsyncClient, pid: str, family: str, born: str | None) -> None:
    body = patient(family, id=pid, mrn=f"MRN-{pid}")
    if born is None:
        del body["birthDate"]
    else:
        body["birthDate"] = born
    response = await client.put(f"Patient/{pid}", json=body, headers=FHIR_JSON)
    assert response.status_code in (200, 201), response.text


async def _people(client: httpx.AsyncClient, count: int, *, missing: int = 0) -> list[str]:
    """`count` patients born in 1950, 1951, ... (family A00, A01, ...), and `missing` more
    without a birth date."""
    made = []
    for n in range(count + missing):
        pid = f"p{n:02d}"
        await _put(client, pid, f"A{n:02d}", _born(1950 + n) if n < count else None)
        made.append(pid)
    return made


Mutation = Callable[[httpx.AsyncClient, int], Awaitable[None]]


async def _walk(client: httpx.AsyncClient, url: str, between: Mutation) -> list[str]:
    """Every id served by walking `next` from `url`, calling `between` after each page."""
    seen: list[str] = []
    page_number = 0
    next_url: str | None = url
    while next_url:
        response = await client.get(next_url)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [e["resource"]["id"] for e in page.get("entry", [])]
        page_number += 1
        await between(client, page_number)
        next_url = _link(page, "next")
    return seen


def _shuffle_years(ids: list[str], *, family: str = "A") -> Mutation:
    """After page 1: the first two patients (served) move to the far end, the last two
    (not yet served) to before the start, one ahead is deleted, and one is created; after
    page 2, a served one and an unserved one move again."""

    async def mutate(client: httpx.AsyncClient, page_number: int) -> None:
        if page_number == 1:
            await _put(client, ids[0], f"{family}90", _born(2030))
            await _put(client, ids[1], f"{family}91", _born(2031))
            await _put(client, ids[-1], f"{family}00x", _born(1900))
            await _put(client, ids[-2], f"{family}00y", _born(1901))
            assert (await client.delete(f"Patient/{ids[-3]}")).status_code in (200, 204)
            await _put(client, "late", f"{family}50", _born(1975))
        if page_number == 2:
            await _put(client, ids[5], f"{family}92", _born(2032))
            await _put(client, ids[-4], f"{family}00z", _born(1902))

    return mutate


@pytest.mark.parametrize(
    "query",
    [
        "Patient?_sort=birthdate&_count=4",  # the sort index walked
        "Patient?_sort=-birthdate&_count=4",
        "Patient?_sort=family&_count=4",
        "Patient?active=true&_sort=birthdate&_count=4",  # the match set sorted
        "Patient?birthdate=ge1800&_count=4",  # a date range walked in value order
        "Patient?family=A&_count=4",  # a string prefix walked in value order
    ],
)
async def test_a_walk_in_value_order_serves_each_resource_once(
    client: httpx.AsyncClient, query: str
) -> None:
    ids = await _people(client, 20)
    seen = await _walk(client, query, _shuffle_years(ids))
    assert len(seen) == len(set(seen)), f"served twice: {sorted(seen)}"
    deleted = ids[-3]
    assert set(ids) - {deleted} <= set(seen), f"skipped: {set(ids) - {deleted} - set(seen)}"


async def test_the_page_serves_each_resource_as_it_is_now(client: httpx.AsyncClient) -> None:
    ids = await _people(client, 8)
    first = (await client.get("Patient?_sort=birthdate&_count=4")).json()
    await _put(client, ids[6], "Renamed", _born(1900))  # ahead of the cursor, moved behind
    rest = (await client.get(_link(first, "next") or "")).json()
    served = {e["resource"]["id"]: e["resource"] for e in rest["entry"]}
    assert served[ids[6]]["name"][0]["family"] == "Renamed"
    assert served[ids[6]]["birthDate"] == "1900-06-15"
    # served at its place when the walk began: between the 1955 and 1957 births
    order = [e["resource"]["id"] for e in rest["entry"]]
    assert order == ids[4:8]


async def test_resources_without_the_sort_value_move_between_phases(
    client: httpx.AsyncClient,
) -> None:
    ids = await _people(client, 10, missing=4)

    async def mutate(client: httpx.AsyncClient, page_number: int) -> None:
        if page_number == 1:
            await _put(client, ids[0], "Lost", None)  # served, now without a value
            await _put(client, ids[12], "Found", _born(1900))  # unserved, now with one
            await _put(client, ids[8], "Gone", None)  # unserved, into the second phase

    seen = await _walk(client, "Patient?_sort=birthdate&_count=3", mutate)
    assert sorted(seen) == sorted(ids)


async def test_previous_link_of_a_held_walk_goes_back(client: httpx.AsyncClient) -> None:
    ids = await _people(client, 12)
    first = (await client.get("Patient?birthdate=ge1800&_count=4")).json()
    second = (await client.get(_link(first, "next") or "")).json()
    await _put(client, ids[1], "Moved", _born(2040))  # served on page 1, moved far ahead
    await _put(client, ids[9], "Back", _born(1900))  # page 3's, moved to before the start
    back = (await client.get(_link(second, "previous") or "")).json()
    assert [e["resource"]["id"] for e in back["entry"]] == ids[0:4]
    third = (await client.get(_link(second, "next") or "")).json()
    assert [e["resource"]["id"] for e in third["entry"]] == ids[8:12]


async def test_too_many_changes_since_the_first_page_is_410(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contracts, "PAST_PLACES_LIMIT", 3)
    ids = await _people(client, 10)
    first = (await client.get("Patient?_sort=birthdate&_count=4")).json()
    for pid in ids[:4]:
        await _put(client, pid, "Changed", _born(1999))
    response = await client.get(_link(first, "next") or "")
    assert response.status_code == 410
    issue = response.json()["issue"][0]
    assert issue["code"] == "too-costly" and "search again" in issue["diagnostics"]
    # a walk in pk order holds still without help: no such limit
    plain = (await client.get("Patient?_count=4")).json()
    for pid in ids[4:]:
        await _put(client, pid, "Again", _born(1998))
    assert (await client.get(_link(plain, "next") or "")).status_code == 200


async def test_changes_to_resources_the_search_does_not_match_do_not_count(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contracts, "PAST_PLACES_LIMIT", 3)
    ids = await _people(client, 10)
    others = [f"z{n}" for n in range(6)]
    for pid in others:
        await _put(client, pid, "Zed", _born(1990))
    first = (await client.get("Patient?family=A&_sort=birthdate&_count=4")).json()
    for pid in others:  # updated, but never matching the search
        await _put(client, pid, "Zedd", _born(1991))
    await _put(client, ids[0], "A-moved", _born(2001))
    seen = await _walk(client, _link(first, "next") or "", _no_change)
    assert seen == ids[4:]  # the served one moved is not served again


async def test_too_many_writes_since_the_first_page_is_410_whatever_the_cursor_says(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contracts, "PAST_SCAN_LIMIT", 5)
    ids = await _people(client, 10)
    first = (await client.get("Patient?_sort=birthdate&_count=4")).json()
    next_url = _link(first, "next") or ""
    for pid in ids:
        await _put(client, pid, "Busy", _born(1960))
    assert (await client.get(next_url)).status_code == 410
    # a cursor forged to claim the walk began before anything was written: the same
    token = next_url.split("_cursor=")[1].split("&")[0]
    fields = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**fields, "t": 0}).encode()).decode()
    response = await client.get(next_url.replace(token, forged.rstrip("=")))
    assert response.status_code == 410


async def test_a_large_list_sorted_places_its_changed_members(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_walks, "SMALL_SET", 2)  # the list walked as a filter
    ids = await _people(client, 10)
    entries = [{"item": {"reference": f"Patient/{pid}"}} for pid in ids]
    listed = {"resourceType": "List", "id": "l1", "status": "current", "mode": "working"}
    await _put_json(client, {**listed, "entry": entries})

    async def mutate(client: httpx.AsyncClient, page_number: int) -> None:
        if page_number == 1:
            await _put(client, ids[6], "Renamed", _born(1956))  # unserved, same place

    seen = await _walk(client, "Patient?_list=l1&_sort=birthdate&_count=4", mutate)
    assert seen == ids


async def test_a_sorted_walk_keeps_its_kind_when_the_match_count_crosses_the_cap(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Few matches are sorted whole, many walk the sort index: a walk that began with few
    keeps sorting them whole when more are written meanwhile."""
    monkeypatch.setattr(search_walks, "SORT_CAP", 12)
    ids = await _people(client, 10)
    males = "Patient?gender=http://hl7.org/fhir/administrative-gender|male"

    async def mutate(client: httpx.AsyncClient, page_number: int) -> None:
        if page_number == 1:
            for n in range(5):
                await _put(client, f"new{n}", "New", _born(2000 + n))

    seen = await _walk(client, males + "&_sort=birthdate&_count=4", mutate)
    assert seen == ids  # (those created since the first page did not exist then)


async def _no_change(client: httpx.AsyncClient, page_number: int) -> None:
    """Nothing written between pages."""


async def _put_json(client: httpx.AsyncClient, resource: dict[str, Any]) -> None:
    url = f"{resource['resourceType']}/{resource['id']}"
    response = await client.put(url, json=resource, headers=FHIR_JSON)
    assert response.status_code in (200, 201), response.text


def _organization(oid: str, name: str) -> dict[str, Any]:
    return {"resourceType": "Organization", "id": oid, "name": name}


def _encounter(eid: str, org: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "class": {"code": "AMB"},
        "serviceProvider": {"reference": f"Organization/{org}"},
    }


def _observation(oid: str, encounter: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"text": "weight"},
        "encounter": {"reference": f"Encounter/{encounter}"},
    }


async def test_a_chain_walked_from_its_far_end_holds_still(client: httpx.AsyncClient) -> None:
    """`Observation?encounter.service-provider.name=` is read organization by organization
    (by name), then each one's Encounters and their Observations: renaming an
    organization, or moving an Encounter or an Observation, moves whole runs of rows."""
    for org, name in (("oa", "Acme A"), ("ob", "Acme B"), ("oc", "Acme C")):
        await _put_json(client, _organization(org, name))
    encounters = {"e1": "oa", "e2": "oa", "e3": "ob", "e4": "ob", "e5": "oc", "e6": "oc"}
    for eid, org in encounters.items():
        await _put_json(client, _encounter(eid, org))
    observations = [f"{eid}-o{n}" for eid in encounters for n in range(3)]
    for oid in observations:
        await _put_json(client, _observation(oid, oid.split("-")[0]))

    async def mutate(client: httpx.AsyncClient, page_number: int) -> None:
        if page_number == 1:  # served: e1's observations and one of e2's
            await _put_json(client, _organization("oa", "Acme Z"))  # A's rows move last
            await _put_json(client, _observation("e1-o0", "e6"))  # served, moved last
            await _put_json(client, _encounter("e5", "oa"))  # unserved, moved first...
        if page_number == 2:
            await _put_json(client, _organization("oa", "Acme A"))  # ...and back again
            await _put_json(client, _observation("e6-o2", "e1"))  # unserved, moved first
            await _put_json(client, _encounter("e3", "oc"))  # unserved, moved last

    url = "Observation?encounter.service-provider.name=Acme&_count=4"
    seen = await _walk(client, url, mutate)
    assert len(seen) == len(set(seen)), f"served twice: {sorted(seen)}"
    assert set(seen) == set(observations)


@pytest.mark.parametrize(
    "query",
    ["?_type=Patient,Observation&_sort=_lastUpdated&_count=3", "?_sort=-_lastUpdated&_count=3"],
)
async def test_a_sort_over_several_types_holds_still(client: httpx.AsyncClient, query: str) -> None:
    patients = await _people(client, 4)
    observations = []
    for n in range(4):
        body = {"resourceType": "Observation", "id": f"o{n}", "status": "final"}
        await _put_json(client, {**body, "code": {"text": "weight"}})
        observations.append(f"o{n}")

    async def mutate(client: httpx.AsyncClient, page_number: int) -> None:
        if page_number == 1:  # every resource updated: each moves to the end or the start
            for pid in patients:
                await _put(client, pid, "Later", _born(1960))
            for oid in observations:
                body = {"resourceType": "Observation", "id": oid, "status": "amended"}
                await _put_json(client, {**body, "code": {"text": "weight"}})

    seen = await _walk(client, query, mutate)
    assert sorted(seen) == sorted(patients + observations)


async def test_values_past_the_largest_double_page_on(client: httpx.AsyncClient) -> None:
    """The middle of two huge quantities is infinite: the cursor still holds it."""
    values: list[dict[str, Any]] = [{"value": v} for v in (1, 2, 3, 4, -1e308, 1e308)]
    values.append({"value": 1e308, "comparator": ">"})
    for n, quantity in enumerate(values):
        body = {"resourceType": "Observation", "id": f"q{n}", "status": "final"}
        await _put_json(client, {**body, "code": {"text": "x"}, "valueQuantity": quantity})
    for order in ("value-quantity", "-value-quantity"):
        seen = await _walk(client, f"Observation?_sort={order}&_count=2", _no_change)
        assert sorted(seen) == sorted(f"q{n}" for n in range(len(values))), order


@pytest.mark.parametrize("app", ["mongodb"], indirect=True)  # SQLite: one transaction
async def test_writes_between_the_reads_of_a_mongodb_page_are_caught(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MongoDB reads a later sorted page in several reads, no snapshot: updates that land
    after the changes were read but before the sort must not be sorted at their new place."""
    ids = await _people(client, 6)
    first = (await client.get("Patient?_sort=birthdate&_count=2")).json()
    writes = [(ids[0], _born(1952)), (ids[5], _born(1900))]  # served moved ahead; unserved back
    _write_once_after(monkeypatch, search_held, "changes_since", client, writes)
    seen = await _walk(client, _link(first, "next") or "", _no_change)
    assert sorted([e["resource"]["id"] for e in first["entry"]] + seen) == ids


def _write_once_after(
    monkeypatch: pytest.MonkeyPatch,
    module: Any,
    name: str,
    client: httpx.AsyncClient,
    writes: list[tuple[str, str]],
) -> None:
    """Make `module.name` write `writes` (patient, birth date) just after its first call:
    a write landing between two of the reads that make up one page."""
    read = getattr(module, name)

    async def then_write(*args: Any) -> Any:
        found = await read(*args)
        while writes:
            pid, born = writes.pop(0)
            await _put(client, pid, "Raced", born)
        return found

    monkeypatch.setattr(module, name, then_write)


def _tagged(pid: str, code: str | None) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient", "id": pid}
    if code is not None:
        resource["meta"] = {"tag": [{"system": "http://t", "code": code}]}
    return resource


def _meta(code: str) -> dict[str, Any]:
    meta = {"tag": [{"system": "http://t", "code": code}]}
    return {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": meta}]}


@pytest.mark.parametrize("then_update", [False, True])
async def test_meta_changed_in_place_holds_still(
    client: httpx.AsyncClient, then_update: bool
) -> None:
    """`$meta-add`/`$meta-delete` change a resource's tags without a new version (R4): a
    walk sorted by `_tag` still serves it once, where it stood."""
    for n, code in enumerate(["b", "c", "d", None, None, None]):
        await _put_json(client, _tagged(f"p{n}", code))

    async def mutate(client: httpx.AsyncClient, page_number: int) -> None:
        if page_number == 1:
            # served, and moved to the resources without a tag
            response = await client.post("Patient/p0/$meta-delete", json=_meta("b"))
            assert response.status_code == 200, response.text
            # not served yet, and moved to the front
            response = await client.post("Patient/p5/$meta-add", json=_meta("a"))
            assert response.status_code == 200, response.text
            if then_update:  # a new version after the in-place change
                await _put_json(client, {**_tagged("p5", "a"), "gender": "male"})

    seen = await _walk(client, "Patient?_sort=_tag&_count=2", mutate)
    assert sorted(seen) == [f"p{n}" for n in range(6)]


async def test_meta_changed_in_place_on_an_older_version_holds_still(
    client: httpx.AsyncClient,
) -> None:
    """The version current at the mark stops being current, then is changed in place:
    the walk still places the resource by what that version said then."""
    for n, code in enumerate("bcde"):
        await _put_json(client, _tagged(f"p{n}", code))

    async def mutate(client: httpx.AsyncClient, page_number: int) -> None:
        if page_number == 1:  # p3 (tag e) not served yet: a new version, same tag...
            await _put_json(client, {**_tagged("p3", "e"), "gender": "male"})
            # ...then its first version tagged `a` too, in place
            response = await client.post("Patient/p3/_history/1/$meta-add", json=_meta("a"))
            assert response.status_code == 200, response.text

    seen = await _walk(client, "Patient?_sort=_tag&_count=2", mutate)
    assert sorted(seen) == [f"p{n}" for n in range(4)]


async def test_a_chain_walk_ignores_changes_off_its_paths(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An organization the chain does not match, renamed during the walk, leads to
    nothing the walk may serve: its Encounters and Observations are not followed."""
    monkeypatch.setattr(contracts, "PAST_SCAN_LIMIT", 5)
    await _put_json(client, _organization("oa", "Acme A"))
    await _put_json(client, _organization("big", "Other"))
    for n in range(4):
        await _put_json(client, _encounter(f"a{n}", "oa"))
        await _put_json(client, _observation(f"a{n}-o", f"a{n}"))
    for n in range(8):  # more than the scan limit behind the other organization
        await _put_json(client, _encounter(f"b{n}", "big"))
        await _put_json(client, _observation(f"b{n}-o", f"b{n}"))

    async def mutate(client: httpx.AsyncClient, page_number: int) -> None:
        if page_number == 1:
            await _put_json(client, _organization("big", "Other Renamed"))

    seen = await _walk(client, "Observation?encounter.service-provider.name=Acme&_count=2", mutate)
    assert sorted(seen) == [f"a{n}-o" for n in range(4)]


@pytest.mark.parametrize("app", ["mongodb"], indirect=True)  # SQLite: one transaction
async def test_a_write_between_the_first_mongodb_page_and_its_mark_is_caught(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that lands after the first page's sort but before its watermark is read
    must not count as written before the walk began (it would never be placed)."""
    ids = await _people(client, 6)
    writes = [(ids[0], _born(1952))]  # on the first page as sorted, then moved ahead
    _write_once_after(monkeypatch, search_page, "_sorted", client, writes)
    seen = await _walk(client, "Patient?_sort=birthdate&_count=2", _no_change)
    assert sorted(seen) == ids and len(seen) == len(ids)
