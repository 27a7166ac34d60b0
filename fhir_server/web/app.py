"""The composition root: builds the stores, services and pipeline, and the ASGI app.

`create_app(settings)` is what tests use; `app_from_environment()` is the uvicorn factory
used by `fhir-server serve` (each worker process builds its own app from FHIR_* settings).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from fhir_server import __version__
from fhir_server.instants import format_instant, now_us
from fhir_server.interactions.context import Services
from fhir_server.pipeline import Pipeline
from fhir_server.search.indexer import Indexer
from fhir_server.search.registry import default_registry
from fhir_server.settings import Settings
from fhir_server.storage.backends import Stores, open_stores
from fhir_server.validation import validate_resource
from fhir_server.web.fhir_endpoint import FhirEndpoint
from tenancy import TenantId

__all__ = ["FhirApp", "app_from_environment", "create_app"]

DEMO_TENANT = TenantId("demo")


class FhirApp:
    """The ASGI application: `/fhir/...` goes straight to the FHIR endpoint, the rest
    (health, landing page, lifespan) to a small Starlette app."""

    def __init__(self, settings: Settings, stores: Stores | None = None) -> None:
        self.settings = settings
        # `stores` is injected by tests (e.g. MongoDB over an in-process double).
        self.stores = stores if stores is not None else open_stores(settings)
        if settings.demo:
            self.stores.tenants.create(DEMO_TENANT, format_instant(now_us()))
        services = Services(
            settings=settings,
            indexer=Indexer(default_registry()),
            validate=lambda resource: validate_resource(
                resource, max_depth=settings.max_json_depth
            ),
        )
        self.pipeline = Pipeline(self.stores, self.stores.tenants, services)
        self._fhir = FhirEndpoint(self.pipeline, settings)
        self._other = Starlette(
            routes=[
                Route("/", _landing),
                Route("/healthz", _health),
                Route("/fhir", _fhir_root),
            ],
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, _: Starlette) -> AsyncIterator[None]:
        await self.stores.start()  # indexes and topology now, not on the first request
        yield
        await self.aclose()

    def close(self) -> None:
        self.stores.close()

    async def aclose(self) -> None:
        """Close everything, the async MongoDB client included (`close` cannot)."""
        await self.stores.aclose()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/fhir/"):
            await self._fhir(scope, receive, send)
        else:
            await self._other(scope, receive, send)


async def _landing(_: Request) -> JSONResponse:
    return JSONResponse(
        {"name": "fhir-server", "version": __version__, "fhir": "/fhir/{tenant}/metadata"}
    )


async def _health(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def _fhir_root(_: Request) -> RedirectResponse:
    return RedirectResponse("/")


def create_app(settings: Settings, stores: Stores | None = None) -> FhirApp:
    return FhirApp(settings, stores)


def app_from_environment() -> FhirApp:
    """uvicorn factory: settings come from FHIR_* variables (set by the CLI for workers)."""
    return FhirApp(Settings())
