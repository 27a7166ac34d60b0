"""Shared fixtures: a real SQLite data directory per test, the app over httpx's ASGI
transport, and a registered tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from fhir_server.settings import Settings
from fhir_server.web.app import FhirApp, create_app
from tenancy import TenantId
from tests.contract.backends import BACKENDS, open_provider

TENANT = "acme"
OTHER_TENANT = "globex"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", max_body_bytes=256 * 1024)


@pytest.fixture(params=BACKENDS)
async def app(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path
) -> AsyncIterator[FhirApp]:
    """The app on every storage backend (tests/contract/backends.py): SQLite as
    configured by `settings`, MongoDB through the in-process double (or a real server)."""
    async with AsyncExitStack() as stack:
        if request.param == "sqlite":
            application = create_app(settings)
        else:
            stores = await stack.enter_async_context(open_provider(request.param, tmp_path))
            application = create_app(settings.model_copy(update={"storage": "mongodb"}), stores)
        for name in (TENANT, OTHER_TENANT):
            application.stores.tenants.create(TenantId(name), "2026-01-01T00:00:00Z")
        yield application
        await application.aclose()


@pytest.fixture
async def client(app: FhirApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=f"http://testserver/fhir/{TENANT}/"
    ) as http:
        yield http


@pytest.fixture
async def other_client(app: FhirApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=f"http://testserver/fhir/{OTHER_TENANT}/"
    ) as http:
        yield http
