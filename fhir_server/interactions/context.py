"""What every interaction gets: the request, the tenant's store and the shared services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fhir_server.errors import Issue
from fhir_server.exchange import FhirRequest, FhirResponse
from fhir_server.interactions.search_setup import SearchSetup, default_setup
from fhir_server.search.entries import IndexEntry
from fhir_server.search.registry import SearchRegistry
from fhir_server.settings import Settings
from fhir_server.storage.contracts import ResourceStore

__all__ = ["Context", "EntryRunner", "Indexer", "Services"]

# Runs one entry of a batch or transaction as a request of its own, through the same
# pipeline hooks (access control, audit) as a plain HTTP request on the same tenant.
EntryRunner = Callable[[FhirRequest], Awaitable[FhirResponse]]


class Indexer(Protocol):
    def index(self, resource: dict[str, Any]) -> list[IndexEntry]: ...


@dataclass(frozen=True, slots=True)
class Services:
    """Process-wide, stateless collaborators, built once by the composition root."""

    settings: Settings
    indexer: Indexer
    validate: Callable[[object], list[Issue]]


@dataclass(slots=True)
class Context:
    """One request on one tenant: the store is already bound to the request's tenant."""

    request: FhirRequest
    store: ResourceStore
    services: Services
    run_entry: EntryRunner | None = None
    # The tenant's search parameters; set by the pipeline for interactions that search or
    # index, None (R4's own) otherwise.
    search: SearchSetup | None = None

    @property
    def indexer(self) -> Indexer:
        return self.search.indexer if self.search is not None else self.services.indexer

    @property
    def registry(self) -> SearchRegistry:
        return self.search.registry if self.search is not None else default_setup().registry
