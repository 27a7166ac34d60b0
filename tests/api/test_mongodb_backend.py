"""What only the MongoDB backend does: refusing transaction Bundles on a standalone
server, the 16 MiB document limit, and `fhir-server mongo init` (roles and indexes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from fhir_server.cli import cli
from fhir_server.settings import Settings
from fhir_server.storage.mongo.schema import AUDIT, INDEXES
from fhir_server.storage.mongo.setup import initialize
from fhir_server.web.app import FhirApp, create_app
from tenancy import TenantId
from tests.api.resources import FHIR_JSON, patient
from tests.contract.backends import double_provider
from tests.mongo_double import MongoDouble


async def mongo_app(tmp_path: Path, double: MongoDouble, **settings: object) -> FhirApp:
    app = create_app(
        Settings(data_dir=tmp_path / "unused", storage="mongodb", **settings),  # type: ignore[arg-type]
        double_provider(double),
    )
    app.stores.tenants.create(TenantId("acme"), "2026-01-01T00:00:00Z")
    return app


@pytest.fixture
async def standalone(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = await mongo_app(tmp_path, MongoDouble(replica_set=False))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/fhir/acme/") as http:
        yield http
    await app.aclose()


def bundle(kind: str) -> dict[str, object]:
    entries = [
        {
            "fullUrl": f"urn:uuid:0000000{n}-0000-4000-8000-000000000000",
            "resource": patient(f"Bundled{n}"),
            "request": {"method": "POST", "url": "Patient"},
        }
        for n in range(2)
    ]
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


async def test_standalone_server_refuses_transaction_bundles_whole(
    standalone: httpx.AsyncClient,
) -> None:
    response = await standalone.post("", json=bundle("transaction"), headers=FHIR_JSON)
    assert response.status_code == 400, response.text
    issue = response.json()["issue"][0]
    assert issue["code"] == "not-supported" and "replica set" in issue["diagnostics"]
    assert (await standalone.get("Patient")).json()["total"] == 0  # nothing half-applied
    # what needs no atomicity still works: one write, and a batch
    assert (await standalone.post("Patient", json=patient(), headers=FHIR_JSON)).status_code == 201
    batch = await standalone.post("", json=bundle("batch"), headers=FHIR_JSON)
    assert batch.status_code == 200, batch.text
    assert (await standalone.get("Patient")).json()["total"] == 3


async def test_a_resource_too_large_for_one_document_is_413(tmp_path: Path) -> None:
    # 4.5 MB of given names (each within R4's 1 MB string limit): their search entries,
    # folded and exact under both `given` and `name`, push the document past 16 MiB
    app = await mongo_app(tmp_path, MongoDouble(), max_body_bytes=12 * 1024 * 1024)
    huge = patient("Huge")
    huge["name"][0]["given"] = [letter * 900_000 for letter in "ABCDE"]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/fhir/acme/") as http:
        response = await http.post("Patient", json=huge, headers=FHIR_JSON)
        assert response.status_code == 413, response.text[:300]
        issue = response.json()["issue"][0]
        assert issue["code"] == "too-costly" and "16 MiB" in issue["diagnostics"]
        assert (await http.get("Patient")).json()["total"] == 0
        small = await http.post("Patient", json=patient("Small"), headers=FHIR_JSON)
        assert small.status_code == 201
    await app.aclose()


async def test_mongo_init_creates_indexes_and_least_privilege_roles() -> None:
    double = MongoDouble()
    first = await initialize(double, "fhir")  # type: ignore[arg-type]
    again = await initialize(double, "fhir")  # type: ignore[arg-type]  # idempotent
    assert first.transactions and again.roles == first.roles
    resources = double.sync.get_database("fhir").get_collection("resources")
    names = set(resources.index_information())
    assert {s.name for s in INDEXES if s.collection == "resources"} <= names
    roles = double.roles["fhir"]
    audit = roles["fhirAuditWriter"]["privileges"]
    assert audit == [
        {"resource": {"db": "fhir", "collection": AUDIT}, "actions": ["find", "insert"]}
    ]
    server = roles["fhirServer"]["privileges"]
    assert AUDIT not in {p["resource"]["collection"] for p in server}
    granted = {a for p in server for a in p["actions"]}
    assert not granted & {"remove", "dropCollection", "dropDatabase"}


def test_mongo_init_without_a_uri_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FHIR_MONGODB_URI", raising=False)
    result = CliRunner().invoke(cli, ["mongo", "init"])
    assert result.exit_code == 2 and "FHIR_MONGODB_URI" in result.output
