"""capabilities: http://hl7.org/fhir/R4/http.html#capabilities.

The CapabilityStatement is generated from what the code implements: the interactions the
pipeline dispatches and the search parameters the query parser supports, so it never
claims more than the server does.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fhir_server import __version__
from fhir_server.exchange import FhirResponse, Interaction
from fhir_server.instants import format_instant, now_us
from fhir_server.interactions.context import Context
from fhir_server.interactions.search_setup import MAX_SETUPS
from fhir_server.resource_json import dump
from fhir_server.resource_types import RESOURCE_TYPES
from fhir_server.search.query import supported_parameters
from fhir_server.search.registry import SearchRegistry, default_registry

__all__ = ["TYPE_INTERACTIONS", "capabilities", "capability_statement"]

TYPE_INTERACTIONS = (
    Interaction.READ,
    Interaction.VREAD,
    Interaction.UPDATE,
    Interaction.DELETE,
    Interaction.HISTORY_INSTANCE,
    Interaction.HISTORY_TYPE,
    Interaction.CREATE,
    Interaction.SEARCH_TYPE,
    Interaction.PATCH,
)
SYSTEM_INTERACTIONS = (
    Interaction.HISTORY_SYSTEM,
    Interaction.SEARCH_SYSTEM,
    Interaction.TRANSACTION,
    Interaction.BATCH,
)
# (name, canonical definition, types it applies to (None: every type), what is offered)
OPERATIONS = (
    (
        "validate",
        "http://hl7.org/fhir/OperationDefinition/Resource-validate",
        None,
        "Type and instance level; modes create, update, delete; base R4 structure only",
    ),
    (
        "meta",
        "http://hl7.org/fhir/OperationDefinition/Resource-meta",
        None,
        "Instance and version level only",
    ),
    (
        "meta-add",
        "http://hl7.org/fhir/OperationDefinition/Resource-meta-add",
        None,
        "Instance and version level; changes meta in place, with no new version",
    ),
    (
        "meta-delete",
        "http://hl7.org/fhir/OperationDefinition/Resource-meta-delete",
        None,
        "Instance and version level; changes meta in place, with no new version",
    ),
    (
        "everything",
        "http://hl7.org/fhir/OperationDefinition/Patient-everything",
        "Patient",
        "Instance and type level; _since, _type, _count (start and end are not supported)",
    ),
)
FORMATS = ("application/fhir+json", "json", "application/fhir+xml", "xml")


async def capabilities(ctx: Context) -> FhirResponse:
    # the tenant's own SearchParameters count once a reindex has put them in force
    statement = dict(_statement(ctx.registry))
    if not await ctx.store.supports_transactions():
        # MongoDB without a replica set: transactions are refused, so not claimed.
        rest = dict(statement["rest"][0])
        rest["interaction"] = [i for i in rest["interaction"] if i["code"] != "transaction"]
        statement["rest"] = [rest]
    statement["date"] = format_instant(now_us())
    statement["implementation"] = {
        "description": f"FHIR server, tenant {ctx.request.tenant}",
        "url": ctx.request.base_url,
    }
    return FhirResponse(200, dump(statement))


def capability_statement(registry: SearchRegistry | None = None) -> dict[str, Any]:
    """The statement without the per-request parts (date, implementation URL), for R4's
    search parameters or those of `registry`."""
    return _statement(registry or default_registry())


@lru_cache(maxsize=MAX_SETUPS)  # one per search setup a process keeps
def _statement(registry: SearchRegistry) -> dict[str, Any]:
    resources = []
    for rtype in sorted(RESOURCE_TYPES):
        resources.append(
            {
                "type": rtype,
                "interaction": [{"code": str(code)} for code in TYPE_INTERACTIONS],
                "versioning": "versioned-update",
                "readHistory": True,
                "updateCreate": True,
                "conditionalCreate": True,
                "conditionalRead": "not-match",  # If-None-Match on read (304)
                "conditionalUpdate": True,
                "conditionalDelete": "single",
                "searchParam": [
                    {"name": code, "definition": url, "type": ptype}
                    for code, ptype, url in supported_parameters(rtype, registry)
                ],
                "operation": [
                    {"name": name, "definition": url, "documentation": text}
                    for name, url, only, text in OPERATIONS
                    if only in (None, rtype)
                ],
            }
        )
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "kind": "instance",
        "software": {"name": "fhir-server", "version": __version__},
        "fhirVersion": "4.0.1",
        "format": list(FORMATS),
        "rest": [
            {
                "mode": "server",
                "resource": resources,
                "interaction": [{"code": str(code)} for code in SYSTEM_INTERACTIONS],
                # compartment search: /Patient/{id}/{type}, /Patient/{id}/* (http.html#search)
                "compartment": ["http://hl7.org/fhir/CompartmentDefinition/patient"],
            }
        ],
    }
