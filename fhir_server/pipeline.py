"""One path for every interaction, with the hook points access control and audit attach to.

    resolve tenant → bind the tenant's store → before hooks → interaction → after hooks

Before hooks see the request before any storage call and may refuse it by raising a
`FhirError`; after hooks see the outcome (the response, or the error) of every request,
including refused and failed ones. Nothing reaches storage except through here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fhir_server.errors import FhirError, MethodNotAllowed, NotFound, ServerFault, TooCostly
from fhir_server.exchange import FhirRequest, FhirResponse, Interaction
from fhir_server.interactions.batch import batch
from fhir_server.interactions.capabilities import capabilities
from fhir_server.interactions.context import Context, Services
from fhir_server.interactions.create import create
from fhir_server.interactions.delete import delete
from fhir_server.interactions.history import history
from fhir_server.interactions.index_format import warn_if_outdated
from fhir_server.interactions.operations import operation
from fhir_server.interactions.patch import patch
from fhir_server.interactions.read import read, vread
from fhir_server.interactions.search import search
from fhir_server.interactions.search_setup import SearchSetup, tenant_setup
from fhir_server.interactions.transaction import transaction
from fhir_server.interactions.update import update
from fhir_server.storage.contracts import QueryTooCostly, ResourceStore, StoreProvider
from tenancy import TenantId, TenantStore

__all__ = ["AfterHook", "BeforeHook", "Outcome", "Pipeline"]

_log = logging.getLogger(__name__)

_UNKNOWN_TTL_SECONDS = 1.0
_MAX_UNKNOWN = 10_000


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a request ended: exactly one of response and error is set."""

    response: FhirResponse | None
    error: FhirError | None


BeforeHook = Callable[[Context], Awaitable[None]]
AfterHook = Callable[[Context, Outcome], Awaitable[None]]
Handler = Callable[[Context], Awaitable[FhirResponse]]

_HANDLERS: dict[Interaction, Handler] = {
    Interaction.READ: read,
    Interaction.VREAD: vread,
    Interaction.CREATE: create,
    Interaction.UPDATE: update,
    Interaction.DELETE: delete,
    Interaction.SEARCH_TYPE: search,
    Interaction.SEARCH_SYSTEM: search,
    Interaction.HISTORY_INSTANCE: history,
    Interaction.HISTORY_TYPE: history,
    Interaction.HISTORY_SYSTEM: history,
    Interaction.CAPABILITIES: capabilities,
    Interaction.PATCH: patch,
    Interaction.TRANSACTION: transaction,
    Interaction.BATCH: batch,
    Interaction.OPERATION: operation,
}


# Interactions that neither search nor index: they skip reading the tenant's search setup.
_NO_SEARCH = frozenset(
    {
        Interaction.READ,
        Interaction.VREAD,
        Interaction.HISTORY_INSTANCE,
        Interaction.HISTORY_TYPE,
        Interaction.HISTORY_SYSTEM,
    }
)


class Pipeline:
    def __init__(self, stores: StoreProvider, tenants: TenantStore, services: Services) -> None:
        self._stores = stores
        self._tenants = tenants
        self.services = services
        self.before_hooks: list[BeforeHook] = []
        self.after_hooks: list[AfterHook] = []
        self._known_tenants: set[TenantId] = set()
        self._format_checked: set[TenantId] = set()
        self._unknown_tenants: dict[TenantId, float] = {}  # name -> trusted until

    def tenant_exists(self, tenant: TenantId) -> bool:
        # Tenants are never removed while the server runs, so a positive answer is cached;
        # one created by `fhir-server tenant create` meanwhile is found on first use. A
        # negative answer is trusted for a second, so that a stream of requests to made-up
        # tenant names costs one registry read per name and second, not one per request.
        if tenant in self._known_tenants:
            return True
        now = time.monotonic()
        if self._unknown_tenants.get(tenant, 0.0) > now:
            return False
        if self._tenants.get(tenant) is None:
            if len(self._unknown_tenants) > _MAX_UNKNOWN:
                self._unknown_tenants.clear()
            self._unknown_tenants[tenant] = now + _UNKNOWN_TTL_SECONDS
            return False
        self._unknown_tenants.pop(tenant, None)
        self._known_tenants.add(tenant)
        return True

    async def handle(self, request: FhirRequest) -> FhirResponse:
        if not self.tenant_exists(request.tenant):
            raise NotFound(f"Unknown tenant '{request.tenant}'")
        try:
            if request.tenant in self._format_checked:
                store = self._stores.for_tenant(request.tenant)
            else:  # the tenant's first request in this process
                # Opening the embedded store can bring an older database up to date
                # (seconds on a large one): done on a thread, while the loop serves the
                # other tenants. (Concurrent first requests meet at the provider's lock.)
                store = await asyncio.to_thread(self._stores.for_tenant, request.tenant)
                await warn_if_outdated(request.tenant, store)
                self._format_checked.add(request.tenant)
        except Exception as exc:
            # which tenant, so an operator can find its file (a damaged one, a full disk);
            # the type only, as everywhere (a driver's message may quote values)
            _log.error(
                "tenant %s: its store could not be opened: %s", request.tenant, type(exc).__name__
            )
            raise ServerFault("The tenant's data cannot be read at the moment") from exc
        return await self._run(request, store)

    async def _run(
        self, request: FhirRequest, store: ResourceStore, setup: SearchSetup | None = None
    ) -> FhirResponse:
        """One request on a bound store: hooks, interaction, hooks. Batch entries come back
        through here, so every entry meets the same hooks as a request of its own; they
        share their Bundle's search setup (one settings read per Bundle, not per entry)."""
        ctx = Context(request, store, self.services)
        ctx.run_entry = lambda entry: self._run(entry, store, ctx.search)
        handler = _HANDLERS.get(request.interaction)
        try:
            if setup is not None:
                ctx.search = setup
            elif request.interaction not in _NO_SEARCH:
                ctx.search = await tenant_setup(store)
            for before in self.before_hooks:
                await before(ctx)
            if handler is None:
                raise MethodNotAllowed(f"The {request.interaction} interaction is not supported")
            response = await handler(ctx)
        except FhirError as error:
            await self._after(ctx, Outcome(None, error))
            raise
        except QueryTooCostly as exc:
            costly = TooCostly(
                f"The query ran longer than the {exc.seconds:g} s a request may take, and was "
                "stopped: narrow the criteria"
            )
            await self._after(ctx, Outcome(None, costly))
            raise costly from exc
        except Exception as exc:
            # Logged with its type only: messages of driver errors can quote stored values.
            _log.error("%s failed: %s", request.interaction, type(exc).__name__)
            fault = ServerFault("The server could not complete the request")
            await self._after(ctx, Outcome(None, fault))
            raise fault from exc
        await self._after(ctx, Outcome(response, None))
        return response

    async def _after(self, ctx: Context, outcome: Outcome) -> None:
        for after in self.after_hooks:
            await after(ctx, outcome)
