"""The tenant registry contract, and the hard boundary between tenants of one backend:
every store of a provider sees its own tenant's data and nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fhir_server.search.entries import TokenEntry
from fhir_server.search.plan import SearchPlan, TokenCondition, TokenMatch
from fhir_server.storage.backends import Stores
from fhir_server.storage.contracts import HistoryQuery, VersionConflict, WriteOp
from tenancy import TenantId
from tests.contract.backends import BACKENDS, open_provider

ACME, GLOBEX = TenantId("acme"), TenantId("globex")


@pytest.fixture(params=BACKENDS)
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    async with open_provider(request.param, tmp_path) as provider:
        yield provider


def put(rid: str, version: int, body: bytes, mrn: str) -> WriteOp:
    entry = TokenEntry("identifier", "urn:mrn", mrn, None)
    return WriteOp("Patient", rid, version - 1, version, 1_000 * version, "PUT", body, (entry,))


async def test_tenant_registry(stores: Stores) -> None:
    registry = stores.tenants
    assert registry.get(ACME) is None
    assert registry.create(GLOBEX, "2026-01-02T00:00:00Z") is True
    assert registry.create(ACME, "2026-01-01T00:00:00Z") is True
    assert registry.create(ACME, "2026-02-01T00:00:00Z") is False
    found = registry.get(ACME)
    assert found is not None and found.created == "2026-01-01T00:00:00Z"
    assert [t.id for t in registry.list()] == [ACME, GLOBEX]


async def test_tenants_never_see_each_other(stores: Stores) -> None:
    acme, globex = stores.for_tenant(ACME), stores.for_tenant(GLOBEX)
    await acme.commit([put("same-id", 1, b'{"t":"acme"}', "1")])
    await globex.commit([put("same-id", 1, b'{"t":"globex"}', "1")])
    await globex.commit([put("same-id", 2, b'{"t":"globex2"}', "2")])

    mine = await acme.read("Patient", "same-id")
    assert mine is not None and mine.body == b'{"t":"acme"}' and mine.version == 1
    assert await acme.vread("Patient", "same-id", 2) is None
    history = await acme.history(HistoryQuery())
    assert [v.body for v in history.versions] == [b'{"t":"acme"}'] and history.total == 1
    plan = SearchPlan("Patient", (TokenCondition("identifier", (TokenMatch(None, "2", False),)),))
    assert (await acme.search(plan)).total == 0
    assert (await globex.search(plan)).total == 1
    assert (await acme.search(SearchPlan("Patient"))).total == 1
    # a compare-and-swap sees only its own tenant's version
    with pytest.raises(VersionConflict) as caught:
        await acme.commit([put("same-id", 3, b"{}", "3")])
    assert caught.value.current_version == 1


async def test_settings_are_per_tenant(stores: Stores) -> None:
    acme, globex = stores.for_tenant(ACME), stores.for_tenant(GLOBEX)
    assert await acme.read_setting("search-parameters") is None
    await acme.write_setting("search-parameters", b"one")
    await acme.write_setting("search-parameters", b"two")
    assert await acme.read_setting("search-parameters") == b"two"
    assert await globex.read_setting("search-parameters") is None
