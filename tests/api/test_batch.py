"""Batches (http://hl7.org/fhir/R4/http.html#transaction, Bundle.type = batch): each entry
stands alone; a failure is an OperationOutcome in its own entry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from fhir_server.settings import Settings
from fhir_server.web.app import create_app
from tenancy import TenantId
from tests.api.bundle_helpers import bundle, count, diagnostics, entry, post_bundle, target
from tests.api.resources import FHIR_JSON, patient
from tests.contract.backends import double_provider
from tests.mongo_double import MongoDouble


async def test_each_entry_succeeds_or_fails_on_its_own(client: httpx.AsyncClient) -> None:
    await client.put("Patient/known", json=patient("Known", id="known"), headers=FHIR_JSON)
    body = bundle(
        "batch",
        entry("POST", "Patient", patient("Good")),
        entry("POST", "Patient", {"resourceType": "Patient", "active": "yes"}),
        entry("GET", "Patient/missing"),
        {"resource": patient("No request")},
        entry("GET", "Patient/known"),
        entry("DELETE", "Patient/known"),
    )
    response = await post_bundle(client, body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "batch-response"
    good, invalid, missing, malformed, read, deleted = result["entry"]
    assert good["response"]["status"] == "201 Created"
    assert good["response"]["etag"] == 'W/"1"'
    assert invalid["response"]["status"].startswith("400")
    assert invalid["response"]["outcome"]["issue"][0]["expression"] == ["Patient.active"]
    assert missing["response"]["status"].startswith("404")
    assert missing["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert malformed["response"]["status"].startswith("400")
    assert "Bundle.entry[3]" in malformed["response"]["outcome"]["issue"][0]["diagnostics"]
    # DELETE runs before GET in a batch too: the read sees the deletion
    assert read["response"]["status"].startswith("410")
    assert deleted["response"]["status"].startswith("200")
    assert (await client.get(target(good))).json()["name"][0]["family"] == "Good"
    assert await count(client, "Patient") == 1


async def test_a_batch_entry_may_not_point_at_another(client: httpx.AsyncClient) -> None:
    # http.html#transaction: references between batch entries are non-conformant; kept
    # as is, the Observation's subject would have pointed at nothing
    uuid = "urn:uuid:b0000000-0000-4000-8000-000000000001"
    dependent = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": uuid},
    }
    body = bundle(
        "batch",
        entry("POST", "Patient", patient("Alone"), uuid),
        entry("POST", "Observation", dependent),
    )
    response = await post_bundle(client, body)
    assert response.status_code == 200, response.text
    alone, refused = response.json()["entry"]
    assert alone["response"]["status"] == "201 Created"
    assert refused["response"]["status"].startswith("400")
    assert "transaction" in refused["response"]["outcome"]["issue"][0]["diagnostics"]
    assert await count(client, "Observation") == 0
    # a urn naming no entry is the entry's own business, as in a POST alone
    elsewhere = {
        **dependent,
        "subject": {"reference": "urn:uuid:c0000000-0000-4000-8000-00000000000c"},
    }
    oid = patient("Oid", managingOrganization={"reference": "urn:oid:1.2.3"})
    body = bundle("batch", entry("POST", "Observation", elsewhere), entry("POST", "Patient", oid))
    response = await post_bundle(client, body)
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert statuses == ["201 Created", "201 Created"]


async def test_batch_conditional_creates_are_idempotent(client: httpx.AsyncClient) -> None:
    mrn = "http://hospital.example/mrn"
    body = bundle(
        "batch",
        *(
            entry(
                "POST",
                "Patient",
                patient(f"P{n}", mrn=f"M{n}"),
                ifNoneExist=f"identifier={mrn}|M{n}",
            )
            for n in range(30)
        ),
    )
    first = await post_bundle(client, body)
    second = await post_bundle(client, body)
    assert {e["response"]["status"] for e in first.json()["entry"]} == {"201 Created"}
    assert {e["response"]["status"] for e in second.json()["entry"]} == {"200 OK"}
    assert [target(e) for e in first.json()["entry"]] == [target(e) for e in second.json()["entry"]]
    assert await count(client, "Patient") == 30


async def test_a_batch_of_reads_returns_the_resources(client: httpx.AsyncClient) -> None:
    ids = []
    for n in range(3):
        created = await client.post("Patient", json=patient(f"R{n}"), headers=FHIR_JSON)
        ids.append(created.json()["id"])
    body = bundle(
        "batch", *(entry("GET", f"Patient/{i}") for i in ids), entry("GET", "Patient?_count=2")
    )
    result = (await post_bundle(client, body)).json()["entry"]
    assert [e["resource"]["id"] for e in result[:3]] == ids
    assert result[3]["resource"]["type"] == "searchset" and result[3]["resource"]["total"] == 3


@pytest.fixture
async def standalone_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a MongoDB without a replica set: no multi-document transactions."""
    provider = double_provider(MongoDouble(replica_set=False))
    settings = Settings(data_dir=tmp_path / "data", storage="mongodb")
    app = create_app(settings, provider)
    app.stores.tenants.create(TenantId("acme"), "2026-01-01T00:00:00Z")
    await app.stores.start()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/fhir/acme/") as http:
        yield http
    await app.aclose()


async def test_without_transactions_a_transaction_is_refused_and_not_claimed(
    standalone_client: httpx.AsyncClient,
) -> None:
    body = bundle("transaction", entry("POST", "Patient", patient("T")))
    response = await post_bundle(standalone_client, body)
    assert response.status_code == 400
    assert response.json()["issue"][0]["code"] == "not-supported"
    assert "batch" in diagnostics(response)
    assert await count(standalone_client, "Patient") == 0
    statement = (await standalone_client.get("metadata")).json()
    system = {i["code"] for i in statement["rest"][0]["interaction"]}
    assert "transaction" not in system and "batch" in system
    batch = await post_bundle(
        standalone_client, bundle("batch", entry("POST", "Patient", patient()))
    )
    assert batch.json()["entry"][0]["response"]["status"] == "201 Created"
