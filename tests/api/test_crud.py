"""create, read, vread, update, delete as http.html describes them."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx

from tests.api.resources import FHIR_JSON, patient


async def create(client: httpx.AsyncClient, resource: dict, **headers: str) -> httpx.Response:
    return await client.post(
        resource["resourceType"], json=resource, headers={**FHIR_JSON, **headers}
    )


async def test_create_assigns_id_version_and_headers(client: httpx.AsyncClient) -> None:
    sent = patient(id="client-chosen", meta={"versionId": "99", "tag": [{"code": "keep"}]})
    response = await create(client, sent)
    assert response.status_code == 201
    body = response.json()
    assert body["id"] != "client-chosen"
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["tag"] == [{"code": "keep"}]
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["location"].endswith(f"/fhir/acme/Patient/{body['id']}/_history/1")
    assert response.headers["last-modified"].endswith("GMT")
    assert response.headers["content-type"].startswith("application/fhir+json")


async def test_read_returns_exactly_what_was_sent_plus_meta(client: httpx.AsyncClient) -> None:
    sent = patient(
        extension=[
            {"url": "http://example.org/b", "valueString": "2"},
            {"url": "http://example.org/a", "valueString": "1"},
        ]
    )
    created = (await create(client, sent)).json()
    response = await client.get(f"Patient/{created['id']}")
    assert response.status_code == 200
    read = response.json()
    assert list(read) == ["resourceType", "id", "meta", *[k for k in sent if k != "resourceType"]]
    for key, value in sent.items():
        assert read[key] == value
    assert response.headers["etag"] == 'W/"1"'


async def test_unknown_id_is_404_with_outcome(client: httpx.AsyncClient) -> None:
    response = await client.get("Patient/does-not-exist")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["code"] == "not-found"


async def test_update_makes_new_version_and_vread_keeps_old(client: httpx.AsyncClient) -> None:
    created = (await create(client, patient("Before"))).json()
    pid = created["id"]
    changed = patient("After", id=pid)
    response = await client.put(f"Patient/{pid}", json=changed, headers=FHIR_JSON)
    assert response.status_code == 200
    assert response.json()["meta"]["versionId"] == "2"
    assert response.headers["etag"] == 'W/"2"'
    old = await client.get(f"Patient/{pid}/_history/1")
    assert old.status_code == 200
    assert old.json()["name"][0]["family"] == "Before"
    current = await client.get(f"Patient/{pid}")
    assert current.json()["name"][0]["family"] == "After"
    missing = await client.get(f"Patient/{pid}/_history/7")
    assert missing.status_code == 404


async def test_update_as_create_with_client_id(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "Patient/chosen-id", json=patient(id="chosen-id"), headers=FHIR_JSON
    )
    assert response.status_code == 201
    assert response.json()["id"] == "chosen-id"
    assert response.headers["location"].endswith("/Patient/chosen-id/_history/1")
    assert (await client.get("Patient/chosen-id")).status_code == 200


async def test_if_match_stale_version_is_412(client: httpx.AsyncClient) -> None:
    pid = (await create(client, patient())).json()["id"]
    ok = await client.put(
        f"Patient/{pid}", json=patient("B", id=pid), headers={**FHIR_JSON, "If-Match": 'W/"1"'}
    )
    assert ok.status_code == 200
    stale = await client.put(
        f"Patient/{pid}", json=patient("C", id=pid), headers={**FHIR_JSON, "If-Match": 'W/"1"'}
    )
    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"
    assert (await client.get(f"Patient/{pid}")).json()["name"][0]["family"] == "B"


async def test_if_none_match_answers_304_for_the_current_version(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("Patient", json=patient(), headers=FHIR_JSON)
    url = f"Patient/{created.json()['id']}"
    for tag in ('W/"1"', '"1"', "*", 'W/"7", W/"1"'):
        response = await client.get(url, headers={"If-None-Match": tag})
        assert response.status_code == 304 and response.headers["etag"] == 'W/"1"', tag
    stale = await client.get(url, headers={"If-None-Match": 'W/"0"'})
    assert stale.status_code == 200 and stale.json()["id"] == created.json()["id"]
    statement = (await client.get("metadata")).json()
    patient_entry = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert patient_entry["conditionalRead"] == "not-match"


async def test_server_meta_wins_over_client_meta(client: httpx.AsyncClient) -> None:
    pid = (await create(client, patient())).json()["id"]
    sent = patient(id=pid, meta={"versionId": "41", "lastUpdated": "1999-01-01T00:00:00Z"})
    body = (await client.put(f"Patient/{pid}", json=sent, headers=FHIR_JSON)).json()
    assert body["meta"]["versionId"] == "2"
    assert not body["meta"]["lastUpdated"].startswith("1999")


async def test_delete_then_read_is_gone_and_history_shows_it(client: httpx.AsyncClient) -> None:
    pid = (await create(client, patient())).json()["id"]
    deleted = await client.delete(f"Patient/{pid}")
    assert deleted.status_code == 200
    assert deleted.headers["etag"] == 'W/"2"'
    gone = await client.get(f"Patient/{pid}")
    assert gone.status_code == 410
    assert gone.json()["issue"][0]["code"] == "deleted"
    again = await client.delete(f"Patient/{pid}")
    assert again.status_code == 204
    history = (await client.get(f"Patient/{pid}/_history")).json()
    assert history["type"] == "history"
    assert history["total"] == 2
    newest = history["entry"][0]
    assert newest["request"] == {"method": "DELETE", "url": f"Patient/{pid}"}
    assert "resource" not in newest
    assert history["entry"][1]["request"]["method"] == "POST"


async def test_recreate_after_delete_continues_versions(client: httpx.AsyncClient) -> None:
    pid = (await create(client, patient())).json()["id"]
    await client.delete(f"Patient/{pid}")
    response = await client.put(f"Patient/{pid}", json=patient(id=pid), headers=FHIR_JSON)
    assert response.status_code == 201
    assert response.json()["meta"]["versionId"] == "3"


async def test_server_ids_are_time_ordered_version_7_uuids(client: httpx.AsyncClient) -> None:
    ids = []
    for _ in range(3):
        ids.append((await create(client, patient())).json()["id"])
        await asyncio.sleep(0.002)  # the next millisecond
    parsed = [uuid.UUID(value) for value in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert ids == sorted(ids) and len(set(ids)) == 3
    created_ms = parsed[0].int >> 80
    assert abs(created_ms - time.time() * 1000) < 60_000


async def test_many_index_rows_of_one_resource_are_all_searchable(
    client: httpx.AsyncClient,
) -> None:
    # 89 identifiers: index rows go in multi-row INSERTs of 64, 16, 4 and 1 rows.
    values = [f"mrn-{n}" for n in range(89)]
    sent = patient(identifier=[{"system": "urn:mrn", "value": v} for v in values])
    created = (await create(client, sent)).json()
    for value in (values[0], values[63], values[64], values[80], values[88]):
        found = await client.get("Patient", params={"identifier": f"urn:mrn|{value}"})
        assert [e["resource"]["id"] for e in found.json()["entry"]] == [created["id"]]
    # An update replaces every one of those rows.
    updated = {**created, "identifier": [{"system": "urn:mrn", "value": "only"}]}
    await client.put(f"Patient/{created['id']}", json=updated, headers=FHIR_JSON)
    gone = await client.get("Patient", params={"identifier": f"urn:mrn|{values[70]}"})
    assert "entry" not in gone.json()
    kept = await client.get("Patient", params={"identifier": "urn:mrn|only"})
    assert len(kept.json()["entry"]) == 1


async def test_if_match_compares_version_ids_as_written(client: httpx.AsyncClient) -> None:
    # http.html#concurrency: the ETag is W/"{versionId}", and a version id is a string;
    # W/"001" is not W/"1" (RFC 9110 8.8.3.2 compares tags character by character)
    pid = (await create(client, patient("A"))).json()["id"]
    for stale in ('W/"01"', 'W/"2"', '"01"'):
        response = await client.put(
            f"Patient/{pid}", json=patient("B", id=pid), headers={**FHIR_JSON, "If-Match": stale}
        )
        assert response.status_code == 412, stale
    deleted = await client.delete(f"Patient/{pid}", headers={"If-Match": 'W/"0001"'})
    assert deleted.status_code == 412
    assert (await client.get(f"Patient/{pid}/_history/01")).status_code == 404
    assert (await client.get(f"Patient/{pid}")).json()["meta"]["versionId"] == "1"


async def test_if_match_takes_a_list_of_tags_or_a_star(client: httpx.AsyncClient) -> None:
    pid = (await create(client, patient("A"))).json()["id"]
    listed = {**FHIR_JSON, "If-Match": 'W/"7", , W/"1",'}  # empty elements are ignored
    response = await client.put(f"Patient/{pid}", json=patient("B", id=pid), headers=listed)
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"2"'
    star = {**FHIR_JSON, "If-Match": "*"}
    response = await client.put(f"Patient/{pid}", json=patient("C", id=pid), headers=star)
    assert response.status_code == 200
    # `*` needs a resource that is there (RFC 9110 13.1.1)
    response = await client.put("Patient/never-made", json=patient(id="never-made"), headers=star)
    assert response.status_code == 412
    assert (await client.get("Patient/never-made")).status_code == 404


async def test_head_is_a_get_without_its_body(client: httpx.AsyncClient) -> None:
    pid = (await create(client, patient("A"))).json()["id"]
    got = await client.get(f"Patient/{pid}")
    head = await client.head(f"Patient/{pid}")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == got.headers["etag"] == 'W/"1"'
    assert head.headers["content-length"] == str(len(got.content))
