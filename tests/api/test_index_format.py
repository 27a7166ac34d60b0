"""A tenant knows which indexer built its search index, and says when to reindex."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from fhir_server.cli import cli
from fhir_server.interactions.index_format import SETTING, index_format
from fhir_server.interactions.reindex import reindex_tenant
from fhir_server.search.indexer import INDEX_FORMAT
from fhir_server.settings import Settings
from fhir_server.web.app import FhirApp, create_app
from tenancy import TenantId
from tests.api.resources import FHIR_JSON, patient
from tests.conftest import TENANT


async def test_a_new_tenant_is_recorded_in_the_current_format(
    app: FhirApp, client: httpx.AsyncClient
) -> None:
    store = app.stores.for_tenant(TenantId(TENANT))
    assert await store.read_setting(SETTING) is None
    await client.post("Patient", json=patient("Ada"), headers=FHIR_JSON)
    assert await store.read_setting(SETTING) == str(INDEX_FORMAT).encode()


async def test_an_old_index_is_reported_until_a_reindex(
    app: FhirApp, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    store = app.stores.for_tenant(TenantId(TENANT))
    await store.write_setting(SETTING, b"1")  # as if built before this indexer
    await client.post("Patient", json=patient("Ada"), headers=FHIR_JSON)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        fresh = create_app(app.settings, stores=app.stores)  # a process that starts anew
        transport = httpx.ASGITransport(app=fresh)
        async with httpx.AsyncClient(
            transport=transport, base_url=f"http://testserver/fhir/{TENANT}/"
        ) as again:
            assert (await again.get("Patient")).status_code == 200
            assert (await again.get("Patient")).status_code == 200
    warnings = [r.getMessage() for r in caplog.records if "reindex" in r.getMessage()]
    assert warnings == [
        f"tenant {TENANT}: its search index is in format 1, this server writes format "
        f"{INDEX_FORMAT}; searches may miss resources until "
        f"`fhir-server reindex --tenant {TENANT}` has run"
    ]
    await reindex_tenant(store)
    assert not (await index_format(store)).outdated


def test_tenant_list_names_the_tenants_to_reindex(tmp_path: Path) -> None:
    data = tmp_path / "data"
    runner = CliRunner()
    for name in ("clinic", "lab"):
        assert (
            runner.invoke(cli, ["tenant", "create", name, "--data-dir", str(data)]).exit_code == 0
        )
    app = create_app(Settings(data_dir=data))
    try:
        store = app.stores.for_tenant(TenantId("clinic"))
        transport = httpx.ASGITransport(app=app)

        async def write() -> None:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver/fhir/clinic/"
            ) as clinic:
                await clinic.post("Patient", json=patient("Ada"), headers=FHIR_JSON)
            await store.write_setting(SETTING, b"1")

        asyncio.run(write())
    finally:
        app.close()
    listed = runner.invoke(cli, ["tenant", "list", "--data-dir", str(data)])
    assert listed.exit_code == 0, listed.output
    lines = dict(line.split("\t", 1) for line in listed.output.splitlines())
    assert lines["clinic"].endswith(
        f"index format 1, now {INDEX_FORMAT}: "
        f"run fhir-server reindex --tenant clinic --data-dir {data}"
    )
    # never used: nothing to reindex, and listing creates no database for it
    assert lines["lab"].endswith("no data yet")
    assert not (data / "tenants" / "lab.sqlite").exists()
    assert (
        runner.invoke(cli, ["reindex", "--tenant", "clinic", "--data-dir", str(data)]).exit_code
        == 0
    )
    listed = runner.invoke(cli, ["tenant", "list", "--data-dir", str(data)])
    assert "reindex" not in listed.output
