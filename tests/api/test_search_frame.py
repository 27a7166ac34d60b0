"""The search frame of the REST core: searchset Bundles, totals, links, stable paging."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx

from tests.api.resources import FHIR_JSON, patient


async def _create_many(client: httpx.AsyncClient, count: int) -> list[str]:
    ids = []
    for n in range(count):
        response = await client.post(
            "Patient", json=patient(f"P{n}", mrn=f"M{n}"), headers=FHIR_JSON
        )
        ids.append(response.json()["id"])
    return ids


def _link(bundle: dict, relation: str) -> str | None:
    return next((link["url"] for link in bundle["link"] if link["relation"] == relation), None)


async def test_searchset_with_total_and_links(client: httpx.AsyncClient) -> None:
    ids = await _create_many(client, 5)
    bundle = (await client.get("Patient", params={"_count": 2})).json()
    assert bundle["type"] == "searchset"
    assert bundle["total"] == 5
    assert len(bundle["entry"]) == 2
    assert all(e["search"]["mode"] == "match" for e in bundle["entry"])
    assert bundle["entry"][0]["fullUrl"] == f"http://testserver/fhir/acme/Patient/{ids[0]}"
    assert _link(bundle, "self") is not None and _link(bundle, "next") is not None
    assert _link(bundle, "previous") is None


async def test_walking_next_under_concurrent_writes_never_repeats_or_skips(
    client: httpx.AsyncClient,
) -> None:
    existing = await _create_many(client, 7)
    seen: list[str] = []
    url: str | None = "Patient?_count=3"
    while url:
        page = (await client.get(url)).json()
        seen += [e["resource"]["id"] for e in page["entry"]]
        # writes during the walk: an update of an already-seen resource and a new one
        await client.put(
            f"Patient/{existing[0]}",
            json=patient("Moved", id=existing[0], mrn="M0"),
            headers=FHIR_JSON,
        )
        await client.post("Patient", json=patient("Late"), headers=FHIR_JSON)
        url = _link(page, "next")
    assert len(seen) == len(set(seen))
    assert set(existing) <= set(seen)


async def test_previous_link_goes_back(client: httpx.AsyncClient) -> None:
    ids = await _create_many(client, 5)
    first = (await client.get("Patient?_count=2")).json()
    second = (await client.get(_link(first, "next"))).json()
    back = (await client.get(_link(second, "previous"))).json()
    assert [e["resource"]["id"] for e in back["entry"]] == ids[:2]


async def test_id_lastupdated_and_identifier_search(client: httpx.AsyncClient) -> None:
    ids = await _create_many(client, 3)
    by_id = (await client.get("Patient", params={"_id": f"{ids[0]},{ids[2]}"})).json()
    assert {e["resource"]["id"] for e in by_id["entry"]} == {ids[0], ids[2]}
    by_identifier = (
        await client.get("Patient", params={"identifier": "http://hospital.example/mrn|M1"})
    ).json()
    assert [e["resource"]["id"] for e in by_identifier["entry"]] == [ids[1]]
    code_only = (await client.get("Patient", params={"identifier": "M2"})).json()
    assert [e["resource"]["id"] for e in code_only["entry"]] == [ids[2]]
    stamp = (await client.get(f"Patient/{ids[1]}")).json()["meta"]["lastUpdated"]
    later = (await client.get("Patient", params={"_lastUpdated": f"ge{stamp}"})).json()
    assert [e["resource"]["id"] for e in later["entry"]] == ids[1:]
    none_future = (await client.get("Patient", params={"_lastUpdated": "gt2999-01-01"})).json()
    assert none_future["total"] == 0


async def test_post_search_with_form_body(client: httpx.AsyncClient) -> None:
    ids = await _create_many(client, 2)
    response = await client.post("Patient/_search", data={"_id": ids[1]})
    assert response.status_code == 200
    assert [e["resource"]["id"] for e in response.json()["entry"]] == [ids[1]]


async def test_lenient_ignores_unknown_and_self_link_omits_it(client: httpx.AsyncClient) -> None:
    await _create_many(client, 2)
    bundle = (await client.get("Patient", params={"nonsense": "1", "_count": "5"})).json()
    assert bundle["total"] == 2
    query = parse_qs(urlparse(_link(bundle, "self")).query)
    assert "nonsense" not in query and query["_count"] == ["5"]


async def test_strict_handling_rejects_unknown_parameter(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "Patient", params={"nonsense": "1"}, headers={"Prefer": "handling=strict"}
    )
    assert response.status_code == 400
    assert "nonsense" in response.json()["issue"][0]["diagnostics"]


async def test_a_header_sent_on_several_lines_counts_whole(client: httpx.AsyncClient) -> None:
    # RFC 9110 5.3 / RFC 7240 2: `Prefer` (or `Accept`) on two lines is one list; a
    # client asking for strict handling must not get a silently unfiltered search
    twice = [("Prefer", "handling=strict"), ("Prefer", "return=representation")]
    response = await client.get("Patient", params={"nonsense": "1"}, headers=twice)
    assert response.status_code == 400
    accept = [("Accept", "application/fhir+xml"), ("Accept", "text/html")]
    response = await client.get("metadata", headers=accept)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+xml")
    # a single-valued field twice is ambiguous, unless both lines agree
    body = b'{"resourceType": "Patient"}'
    twice = [("Content-Type", "application/fhir+json"), ("Content-Type", "application/xml")]
    assert (await client.post("Patient", content=body, headers=twice)).status_code == 400
    same = [("Content-Type", "application/fhir+json"), ("Content-Type", "application/fhir+json")]
    assert (await client.post("Patient", content=body, headers=same)).status_code == 201


async def test_summary_count_and_deleted_excluded(client: httpx.AsyncClient) -> None:
    ids = await _create_many(client, 3)
    await client.delete(f"Patient/{ids[0]}")
    bundle = (await client.get("Patient", params={"_summary": "count"})).json()
    assert bundle["total"] == 2
    assert "entry" not in bundle


async def test_tampered_cursor_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("Patient", params={"_cursor": "not-a-cursor!"})
    assert response.status_code == 400
