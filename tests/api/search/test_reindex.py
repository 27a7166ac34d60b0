"""Custom SearchParameters take effect for their tenant after a reindex."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from fhir_server.interactions import reindex
from fhir_server.interactions.reindex import reindex_tenant
from fhir_server.interactions.search_setup import SETTING
from fhir_server.web.app import FhirApp
from tenancy import TenantId
from tests.api.search.helpers import id_set
from tests.conftest import TENANT

FHIR_JSON = {"Content-Type": "application/fhir+json"}
NICKNAME = {
    "resourceType": "SearchParameter",
    "id": "patient-nickname",
    "url": "http://example.org/fhir/SearchParameter/patient-nickname",
    "name": "nickname",
    "status": "active",
    "description": "A patient's nickname",
    "code": "nickname",
    "base": ["Patient"],
    "type": "string",
    "expression": "Patient.name.where(use='nickname').given",
}


async def _patients(client: httpx.AsyncClient) -> None:
    for pid, nick in (("n1", "Bubbles"), ("n2", "Ace")):
        body = {
            "resourceType": "Patient",
            "id": pid,
            "name": [{"family": "Doe"}, {"use": "nickname", "given": [nick]}],
        }
        assert (await client.put(f"Patient/{pid}", json=body, headers=FHIR_JSON)).status_code == 201


async def _listed_patient_parameters(client: httpx.AsyncClient) -> set[str]:
    statement = (await client.get("metadata")).json()
    (patient,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Patient"]
    return {p["name"] for p in patient["searchParam"]}


async def test_custom_parameter_works_after_reindex_only_in_its_tenant(
    app: FhirApp, client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    await _patients(client)
    await _patients(other_client)
    created = await client.put("SearchParameter/patient-nickname", json=NICKNAME, headers=FHIR_JSON)
    assert created.status_code == 201
    strict = await client.get(
        "Patient", params={"nickname": "bub"}, headers={"Prefer": "handling=strict"}
    )
    assert strict.status_code == 400  # not in force before the reindex
    assert "nickname" not in await _listed_patient_parameters(client)

    report = await reindex_tenant(app.stores.for_tenant(TenantId(TENANT)))
    assert report.custom_parameters == ["nickname"]
    assert report.resources >= 3
    # the CapabilityStatement lists what works, the tenant's own parameters included
    assert "nickname" in await _listed_patient_parameters(client)
    assert "nickname" not in await _listed_patient_parameters(other_client)

    assert await id_set(client, "Patient", {"nickname": "bub"}) == {"n1"}
    assert await id_set(client, "Patient", {"nickname:exact": "Ace"}) == {"n2"}
    # resources written after the reindex are indexed with the tenant's parameters too
    body = {
        "resourceType": "Patient",
        "id": "n3",
        "name": [{"use": "nickname", "given": ["Bubba"]}],
    }
    await client.put("Patient/n3", json=body, headers=FHIR_JSON)
    assert await id_set(client, "Patient", {"nickname": "bub"}) == {"n1", "n3"}
    # the other tenant never defined it
    other = await other_client.get(
        "Patient", params={"nickname": "bub"}, headers={"Prefer": "handling=strict"}
    )
    assert other.status_code == 400


def test_reindex_command_shows_progress_and_summary(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run = [sys.executable, "-m", "fhir_server"]
    subprocess.run(
        [*run, "tenant", "create", "clinic", "--data-dir", str(data)],
        check=True,
        capture_output=True,
    )
    done = subprocess.run(
        [*run, "reindex", "--tenant", "clinic", "--data-dir", str(data)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert "reindexed 0 resources" in done.stdout
    missing = subprocess.run(
        [*run, "reindex", "--tenant", "nobody", "--data-dir", str(data)],
        capture_output=True,
        text=True,
    )
    assert missing.returncode != 0 and "no tenant nobody" in missing.stderr


async def test_writes_while_servers_still_hold_the_old_parameters_are_caught_up(
    app: FhirApp, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server in another process keeps the old parameters for up to a second after the
    # reindex stores the new ones; what it writes then must still be found afterwards.
    monkeypatch.setattr(reindex, "forget_setting", lambda store: None)  # as another process
    await client.put("SearchParameter/patient-nickname", json=NICKNAME, headers=FHIR_JSON)
    store = app.stores.for_tenant(TenantId(TENANT))
    assert (await client.get("Patient", params={"nickname": "x"})).status_code == 200
    running = asyncio.create_task(reindex_tenant(store))
    while await store.read_setting(SETTING) is None:
        await asyncio.sleep(0.01)
    late = {
        "resourceType": "Patient",
        "id": "late",
        "name": [{"use": "nickname", "given": ["Zed"]}],
    }
    assert (await client.put("Patient/late", json=late, headers=FHIR_JSON)).status_code == 201
    await running
    assert await id_set(client, "Patient", {"nickname": "zed"}) == {"late"}
