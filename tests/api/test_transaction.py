"""Transactions (http://hl7.org/fhir/R4/http.html#transaction): all or nothing, placeholder
and conditional references, processing order, and errors that name the entry."""

from __future__ import annotations

import httpx

from tests.api.bundle_helpers import bundle, count, diagnostics, entry, post_bundle, target
from tests.api.resources import FHIR_JSON, patient

PAT = "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"
ENC = "urn:oid:1.2.3.4.5"
NPI = "http://hl7.org/fhir/sid/us-npi"


def observation(subject: str, **extra: object) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "subject": {"reference": subject},
        **extra,
    }


async def test_placeholders_are_resolved_in_every_reference(client: httpx.AsyncClient) -> None:
    obs = observation(
        PAT,
        encounter={"reference": ENC},
        extension=[{"url": "http://example.org/ext", "valueReference": {"reference": PAT}}],
        contained=[{"resourceType": "Device", "id": "d1", "patient": {"reference": PAT}}],
        device={"reference": "#d1"},
    )
    body = bundle(
        "transaction",
        entry("POST", "Observation", obs, "urn:uuid:0f6bd47b-0f0b-4a43-a5a0-0e2d9fb0b1b1"),
        entry("POST", "Patient", patient("Placeholder"), PAT),
        entry(
            "POST",
            "Encounter",
            {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"code": "AMB"},
                "subject": {"reference": PAT},
            },
            ENC,
        ),
    )
    response = await post_bundle(client, body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "transaction-response"
    entries = result["entry"]
    assert [target(e).split("/")[0] for e in entries] == ["Observation", "Patient", "Encounter"]
    for item in entries:
        assert item["response"]["status"] == "201 Created"
        assert item["response"]["etag"] == 'W/"1"'
        assert item["response"]["lastModified"].endswith("Z")
    patient_ref, encounter_ref = target(entries[1]), target(entries[2])
    stored = (await client.get(target(entries[0]))).json()
    assert stored["subject"]["reference"] == patient_ref
    assert stored["encounter"]["reference"] == encounter_ref
    assert stored["extension"][0]["valueReference"]["reference"] == patient_ref
    assert stored["contained"][0]["patient"]["reference"] == patient_ref
    assert stored["device"]["reference"] == "#d1"  # a local reference is left alone
    # the rewritten references are what search sees
    assert await count(client, "Observation", subject=patient_ref) == 1


async def test_processing_order_is_delete_post_put_get(client: httpx.AsyncClient) -> None:
    await client.put("Patient/upd", json=patient("Before", id="upd"), headers=FHIR_JSON)
    await client.put("Patient/old", json=patient("Old", mrn="OLD", id="old"), headers=FHIR_JSON)
    mrn = "http://hospital.example/mrn|OLD"
    body = bundle(
        "transaction",
        entry("GET", "Patient/upd"),
        entry("PUT", "Patient/upd", patient("After", id="upd")),
        entry("POST", "Patient", patient("Successor", mrn="OLD"), ifNoneExist=f"identifier={mrn}"),
        entry("DELETE", "Patient/old"),
    )
    response = await post_bundle(client, body)
    assert response.status_code == 200, response.text
    first, put, post, delete = response.json()["entry"]  # answers in request order
    # the GET, listed first, ran last: it sees the PUT
    assert first["resource"]["name"][0]["family"] == "After"
    assert put["response"]["status"] == "200 OK" and put["response"]["etag"] == 'W/"2"'
    # the DELETE ran before the conditional create, which therefore created a new Patient
    assert post["response"]["status"] == "201 Created"
    assert target(post) != "Patient/old"
    assert delete["response"]["status"].startswith("200")
    assert (await client.get("Patient/old")).status_code == 410


async def test_an_invalid_last_entry_leaves_no_trace(client: httpx.AsyncClient) -> None:
    body = bundle(
        "transaction",
        entry("POST", "Patient", patient("First"), PAT),
        entry("POST", "Observation", observation(PAT)),
        entry("PUT", "Patient/third", {"resourceType": "Patient", "id": "third", "fmily": "x"}),
    )
    response = await post_bundle(client, body)
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "Bundle.entry[2]" in diagnostics(response)
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[2].resource.fmily"]
    assert await count(client, "Patient") == 0
    assert await count(client, "Observation") == 0
    assert (await client.get("_history")).json().get("entry") is None


async def test_a_stale_if_match_in_the_last_entry_rolls_back_the_rest(
    client: httpx.AsyncClient,
) -> None:
    await client.put("Patient/v", json=patient("V", id="v"), headers=FHIR_JSON)
    await client.put("Patient/v", json=patient("V2", id="v"), headers=FHIR_JSON)
    body = bundle(
        "transaction",
        entry("POST", "Patient", patient("New")),
        entry("PUT", "Patient/v", patient("V3", id="v"), ifMatch='W/"1"'),
    )
    response = await post_bundle(client, body)
    assert response.status_code == 412
    assert "Bundle.entry[1]" in diagnostics(response)
    assert await count(client, "Patient") == 1
    assert (await client.get("Patient/v")).json()["meta"]["versionId"] == "2"


async def test_duplicate_full_urls_are_refused(client: httpx.AsyncClient) -> None:
    body = bundle(
        "transaction",
        entry("POST", "Patient", patient("A"), PAT),
        entry("POST", "Patient", patient("B"), PAT),
    )
    response = await post_bundle(client, body)
    assert response.status_code == 400
    assert "Bundle.entry[1]" in diagnostics(response) and "Bundle.entry[0]" in diagnostics(response)
    assert await count(client, "Patient") == 0


async def test_an_unresolvable_placeholder_is_refused(client: httpx.AsyncClient) -> None:
    body = bundle(
        "transaction",
        entry("POST", "Patient", patient("A"), PAT),
        entry("POST", "Observation", observation("urn:uuid:00000000-0000-0000-0000-000000000000")),
    )
    response = await post_bundle(client, body)
    assert response.status_code == 400
    text = diagnostics(response)
    assert "Bundle.entry[1]" in text and "urn:uuid:00000000-0000-0000-0000-000000000000" in text
    assert await count(client, "Patient") == 0


async def test_conditional_references_need_exactly_one_match(client: httpx.AsyncClient) -> None:
    practitioner = {"resourceType": "Practitioner", "identifier": [{"system": NPI, "value": "1"}]}
    created = await client.post("Practitioner", json=practitioner, headers=FHIR_JSON)
    one = f"Practitioner?identifier={NPI}|1"
    ok = await post_bundle(
        client,
        bundle(
            "transaction",
            entry(
                "POST",
                "Observation",
                observation(PAT, performer=[{"reference": one}]) | {"subject": {"reference": one}},
            ),
        ),
    )
    assert ok.status_code == 200, ok.text
    stored = (await client.get(target(ok.json()["entry"][0]))).json()
    assert stored["performer"][0]["reference"] == f"Practitioner/{created.json()['id']}"

    for _ in range(2):  # now two Practitioners share the identifier 2
        twin = practitioner | {"identifier": [{"system": NPI, "value": "2"}]}
        await client.post("Practitioner", json=twin, headers=FHIR_JSON)
    for value, what in (("0", "none"), ("2", "more than one")):
        body = bundle(
            "transaction",
            entry("POST", "Patient", patient("P"), PAT),
            entry(
                "POST",
                "Observation",
                observation(
                    PAT, performer=[{"reference": f"Practitioner?identifier={NPI}|{value}"}]
                ),
            ),
        )
        response = await post_bundle(client, body)
        assert response.status_code == 412, response.text
        assert "Bundle.entry[1]" in diagnostics(response) and what in diagnostics(response)
    assert await count(client, "Patient") == 0


async def test_two_entries_changing_one_resource_are_refused(client: httpx.AsyncClient) -> None:
    await client.put("Patient/same", json=patient("S", id="same"), headers=FHIR_JSON)
    body = bundle(
        "transaction",
        entry("PUT", "Patient/same", patient("S1", id="same")),
        entry("DELETE", "Patient?_id=same"),
    )
    response = await post_bundle(client, body)
    assert response.status_code == 400
    text = diagnostics(response)
    assert "Patient/same" in text and "Bundle.entry[0]" in text and "Bundle.entry[1]" in text
    assert (await client.get("Patient/same")).json()["meta"]["versionId"] == "1"


async def test_conditional_create_update_and_delete(client: httpx.AsyncClient) -> None:
    await client.post("Patient", json=patient("Gone", mrn="GONE"), headers=FHIR_JSON)
    existing = await client.post("Patient", json=patient("Kept", mrn="KEPT"), headers=FHIR_JSON)
    mrn = "http://hospital.example/mrn"
    body = bundle(
        "transaction",
        entry("POST", "Patient", patient("Dup", mrn="KEPT"), ifNoneExist=f"identifier={mrn}|KEPT"),
        entry("PUT", f"Patient?identifier={mrn}|NEW", patient("New", mrn="NEW")),
        entry("PUT", f"Patient?identifier={mrn}|KEPT", patient("Kept2", mrn="KEPT")),
        entry("DELETE", f"Patient?identifier={mrn}|GONE"),
    )
    response = await post_bundle(client, body, Prefer="return=representation")
    assert response.status_code == 200, response.text
    kept, new, updated, deleted = response.json()["entry"]
    assert kept["response"]["status"] == "200 OK"
    assert target(kept) == f"Patient/{existing.json()['id']}"
    assert new["response"]["status"] == "201 Created"
    assert new["resource"]["name"][0]["family"] == "New"
    assert target(updated) == target(kept) and updated["resource"]["meta"]["versionId"] == "2"
    assert deleted["response"]["status"].startswith("200")
    assert await count(client, "Patient") == 2


async def test_a_conditional_update_without_a_match_never_replaces_another_resource(
    client: httpx.AsyncClient,
) -> None:
    kept = {**patient("Kept", mrn="K-1"), "id": "kept"}
    assert (await client.put("Patient/kept", json=kept, headers=FHIR_JSON)).status_code == 201
    intruder = {**patient("Clobber", mrn="NO-MATCH"), "id": "kept"}
    mrn = "http://hospital.example/mrn"
    body = bundle("transaction", entry("PUT", f"Patient?identifier={mrn}|NO-MATCH", intruder))
    response = await post_bundle(client, body)
    assert response.status_code == 409, response.text
    assert (await client.get("Patient/kept")).json()["name"][0]["family"] == "Kept"


async def test_relative_references_resolve_against_the_entries_base(
    client: httpx.AsyncClient,
) -> None:
    """bundle.html#references: `Patient/x` in an entry means the entry `base/Patient/x`
    under the referring entry's base (the server's own for a urn:uuid entry), and a
    POSTed entry gets a new id, so such references must follow it."""
    own = str(client.base_url).rstrip("/")
    other = "http://other.example/fhir"
    body = bundle(
        "transaction",
        entry("POST", "Patient", patient("Own"), full_url=f"{own}/Patient/mine"),
        entry("POST", "Patient", patient("Other"), full_url=f"{other}/Patient/theirs"),
        entry("POST", "Observation", observation("Patient/mine"), full_url="urn:uuid:o-1"),
        entry(
            "POST",
            "Observation",
            observation("Patient/theirs"),
            full_url=f"{other}/Observation/o-2",
        ),
    )
    response = await post_bundle(client, body, Prefer="return=representation")
    assert response.status_code == 200, response.text
    mine, theirs, first, second = response.json()["entry"]
    assert first["resource"]["subject"]["reference"] == target(mine)
    assert second["resource"]["subject"]["reference"] == target(theirs)
    assert target(mine) != "Patient/mine" and target(theirs) != "Patient/theirs"


async def test_a_conditional_write_past_the_transactions_deletes_still_sees_many(
    client: httpx.AsyncClient,
) -> None:
    ids = []
    for _ in range(3):
        created = await client.post("Patient", json=patient("Same"), headers=FHIR_JSON)
        ids.append(created.json()["id"])
    body = bundle(
        "transaction",
        entry("DELETE", f"Patient/{ids[0]}"),
        entry("DELETE", "Patient?family=same"),  # two still match: 412, and nothing happens
    )
    response = await post_bundle(client, body)
    assert response.status_code == 412, response.text
    assert await count(client, "Patient") == 3


async def test_placeholders_in_uri_elements_and_narrative_links_are_replaced(
    client: httpx.AsyncClient,
) -> None:
    """http.html#trules: a fullUrl is replaced in references, in elements of type uri, url,
    oid and uuid, and in the narrative's href and src; a string is left alone."""
    binary = {"resourceType": "Binary", "contentType": "text/plain", "data": "aGk="}
    div = '<div xmlns="http://www.w3.org/1999/xhtml"><a href="urn:uuid:b-1">the note</a></div>'
    document = {
        "resourceType": "DocumentReference",
        "status": "current",
        "text": {"status": "generated", "div": div},
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:b-1"}],
        "content": [{"attachment": {"contentType": "text/plain", "url": "urn:uuid:b-1"}}],
    }
    body = bundle(
        "transaction",
        entry("POST", "Binary", binary, full_url="urn:uuid:b-1"),
        entry("POST", "DocumentReference", document, full_url="urn:uuid:d-1"),
    )
    response = await post_bundle(client, body, Prefer="return=representation")
    assert response.status_code == 200, response.text
    stored_binary, stored = response.json()["entry"]
    location = target(stored_binary)
    assert location.startswith("Binary/")
    assert stored["resource"]["content"][0]["attachment"]["url"] == location
    assert f'href="{location}"' in stored["resource"]["text"]["div"]
    assert stored["resource"]["identifier"][0]["value"] == "urn:uuid:b-1"  # a string


async def test_a_transactions_own_creates_do_not_trip_its_conditional_creates(
    client: httpx.AsyncClient,
) -> None:
    # criteria see the database as it was before the transaction, on every backend
    mrn = "http://hospital.example/mrn"
    body = bundle(
        "transaction",
        entry("POST", "Patient", patient("Plain", mrn="TX-1")),
        entry("POST", "Patient", patient("Twin", mrn="TX-1"), ifNoneExist=f"identifier={mrn}|TX-1"),
    )
    response = await post_bundle(client, body)
    assert response.status_code == 200, response.text
    assert [e["response"]["status"] for e in response.json()["entry"]] == ["201 Created"] * 2


async def test_a_batch_or_collection_is_not_a_transaction(client: httpx.AsyncClient) -> None:
    response = await post_bundle(client, bundle("collection", entry("POST", "Patient", patient())))
    assert response.status_code == 400
    assert "transaction" in diagnostics(response)
    response = await post_bundle(client, bundle("transaction", {"resource": patient()}))
    assert response.status_code == 400 and "Bundle.entry[0]" in diagnostics(response)


async def test_repeated_conditional_creates_make_one_resource(client: httpx.AsyncClient) -> None:
    # Two entries creating the same Practitioner (as Synthea bundles have) made two, after
    # which every conditional create on that identifier failed with 412
    mrn = "http://hospital.example/mrn"
    criteria = f"identifier={mrn}|DUP-1"
    first, second = (
        "urn:uuid:a0000000-0000-4000-8000-000000000001",
        "urn:uuid:a0000000-0000-4000-8000-000000000002",
    )
    body = bundle(
        "transaction",
        entry("POST", "Patient", patient("One", mrn="DUP-1"), first, ifNoneExist=criteria),
        entry("POST", "Patient", patient("One", mrn="DUP-1"), second, ifNoneExist=criteria),
        entry("POST", "Observation", observation(second)),
    )
    response = await post_bundle(client, body)
    assert response.status_code == 200, response.text
    results = response.json()["entry"]
    assert [e["response"]["status"] for e in results] == ["201 Created", "200 OK", "201 Created"]
    assert target(results[0]) == target(results[1])
    assert await count(client, "Patient", identifier=f"{mrn}|DUP-1") == 1
    assert await count(client, "Observation", subject=target(results[0])) == 1


async def test_an_error_in_an_entrys_request_names_that_element(
    client: httpx.AsyncClient,
) -> None:
    body = bundle("transaction", entry("POST", "Patient", patient(), ifNoneExist="bogus=1"))
    response = await post_bundle(client, body)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[0].request.ifNoneExist"]
    body = bundle("transaction", entry("PUT", "Patient?bogus=1", patient()))
    response = await post_bundle(client, body)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[0].request.url"]


async def test_repeated_criteria_with_another_resource_are_refused(
    client: httpx.AsyncClient,
) -> None:
    # merging would drop the second body; keeping both would leave the criteria matching two
    mrn = "http://hospital.example/mrn"
    criteria = f"identifier={mrn}|DUP-2"
    body = bundle(
        "transaction",
        entry("POST", "Patient", patient("One", mrn="DUP-2"), ifNoneExist=criteria),
        entry("POST", "Patient", patient("Other", mrn="DUP-2"), ifNoneExist=criteria),
    )
    response = await post_bundle(client, body)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[1].request.ifNoneExist"]
    assert await count(client, "Patient", identifier=f"{mrn}|DUP-2") == 0
    # the same criteria but for a result parameter are the same criteria
    body = bundle(
        "transaction",
        entry(
            "POST", "Patient", patient("One", mrn="DUP-3"), ifNoneExist=f"identifier={mrn}|DUP-3"
        ),
        entry(
            "POST",
            "Patient",
            patient("One", mrn="DUP-3"),
            ifNoneExist=f"identifier={mrn}|DUP-3&_format=json",
        ),
    )
    assert (await post_bundle(client, body)).status_code == 200
    assert await count(client, "Patient", identifier=f"{mrn}|DUP-3") == 1


async def test_repeated_criteria_matching_a_resource_answer_with_it(
    client: httpx.AsyncClient,
) -> None:
    # nothing is created, so the two bodies may differ: each entry alone would find it
    mrn = "http://hospital.example/mrn"
    await client.post("Patient", json=patient("Kept", mrn="DUP-4"), headers=FHIR_JSON)
    criteria = f"identifier={mrn}|DUP-4"
    body = bundle(
        "transaction",
        entry("POST", "Patient", patient("One", mrn="DUP-4"), ifNoneExist=criteria),
        entry("POST", "Patient", patient("Other", mrn="DUP-4"), ifNoneExist=criteria),
    )
    response = await post_bundle(client, body)
    assert response.status_code == 200, response.text
    first, second = response.json()["entry"]
    assert [first["response"]["status"], second["response"]["status"]] == ["200 OK"] * 2
    assert target(first) == target(second)
    assert await count(client, "Patient", identifier=f"{mrn}|DUP-4") == 1
