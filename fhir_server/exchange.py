"""A FHIR request and response, free of any web framework.

The web layer turns an HTTP request into a `FhirRequest` (URL already routed, body already
parsed) and renders the `FhirResponse` it gets back; everything between is plain Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tenancy import TenantId

__all__ = ["FhirRequest", "FhirResponse", "Interaction"]


class Interaction(StrEnum):
    """The interactions of http://hl7.org/fhir/R4/http.html (codes as in CapabilityStatement)."""

    READ = "read"
    VREAD = "vread"
    UPDATE = "update"
    PATCH = "patch"
    DELETE = "delete"
    HISTORY_INSTANCE = "history-instance"
    HISTORY_TYPE = "history-type"
    HISTORY_SYSTEM = "history-system"
    CREATE = "create"
    SEARCH_TYPE = "search-type"
    SEARCH_SYSTEM = "search-system"
    CAPABILITIES = "capabilities"
    BATCH = "batch"
    TRANSACTION = "transaction"
    OPERATION = "operation"


@dataclass(slots=True)
class FhirRequest:
    """One interaction on one tenant, as the domain sees it."""

    tenant: TenantId
    interaction: Interaction
    method: str
    base_url: str  # the tenant's FHIR base, e.g. http://host/fhir/demo
    resource_type: str | None = None
    resource_id: str | None = None
    version_id: str | None = None
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: dict[str, Any] | None = None
    # compartment search `/Patient/123/Observation`: ("Patient", "123", "Observation")
    compartment: tuple[str, str, str] | None = None
    operation: str | None = None  # the `$name` (without `$`) of Interaction.OPERATION
    # A JSON Patch document (RFC 6902), the body of PATCH as application/json-patch+json.
    json_patch: list[Any] | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def param(self, name: str) -> str | None:
        """The last value of a query parameter, or None."""
        found = None
        for key, value in self.params:
            if key == name:
                found = value
        return found


@dataclass(slots=True)
class FhirResponse:
    """What goes back: a status, headers, and a JSON body (bytes, as stored or built)."""

    status: int
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # What the response is about, for the audit and access hooks.
    resource_type: str | None = None
    resource_id: str | None = None
