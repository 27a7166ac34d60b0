"""Routing a FHIR REST URL to an interaction (http://hl7.org/fhir/R4/http.html).

Given the method and the path segments below the tenant's base, return which interaction
is meant and its parts; the URL grammar lives here, not in the web framework.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fhir_server.errors import BadRequest, MethodNotAllowed, NotFound
from fhir_server.exchange import Interaction
from fhir_server.resource_types import is_resource_type

__all__ = ["Route", "check_id", "route"]

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


@dataclass(frozen=True, slots=True)
class Route:
    interaction: Interaction
    resource_type: str | None = None
    resource_id: str | None = None
    version_id: str | None = None


def check_id(text: str, what: str = "id") -> str:
    """`text` if it is a valid FHIR id (datatypes.html#id), else BadRequest."""
    if not _ID.fullmatch(text):
        raise BadRequest(
            f"'{text[:80]}' is not a valid {what}: 1-64 characters of A-Z, a-z, 0-9, '-' and '.'"
        )
    return text


def _type(segment: str) -> str:
    if not is_resource_type(segment):
        raise NotFound(f"Unknown resource type '{segment[:80]}'")
    return segment


_TYPE_LEVEL = {
    "GET": Interaction.SEARCH_TYPE,
    "POST": Interaction.CREATE,
    "PUT": Interaction.UPDATE,  # conditional update
    "DELETE": Interaction.DELETE,  # conditional delete
    "PATCH": Interaction.PATCH,  # conditional patch
}
_INSTANCE_LEVEL = {
    "GET": Interaction.READ,
    "PUT": Interaction.UPDATE,
    "DELETE": Interaction.DELETE,
    "PATCH": Interaction.PATCH,
}


def route(method: str, segments: list[str]) -> Route:
    """The interaction a request means, or NotFound / MethodNotAllowed / BadRequest."""
    match segments:
        case []:
            if method == "POST":
                return Route(Interaction.TRANSACTION)  # or batch: decided by Bundle.type
            if method == "GET":
                return Route(Interaction.SEARCH_SYSTEM)
        case ["metadata"]:
            if method == "GET":
                return Route(Interaction.CAPABILITIES)
        case ["_history"]:
            if method == "GET":
                return Route(Interaction.HISTORY_SYSTEM)
        case ["_search"]:
            if method == "POST":
                return Route(Interaction.SEARCH_SYSTEM)
        case [rtype]:
            interaction = _TYPE_LEVEL.get(method)
            if interaction is not None:
                return Route(interaction, _type(rtype))
        case [rtype, "_search"]:
            if method == "POST":
                return Route(Interaction.SEARCH_TYPE, _type(rtype))
        case [rtype, "_history"]:
            if method == "GET":
                return Route(Interaction.HISTORY_TYPE, _type(rtype))
        case [rtype, rid]:
            interaction = _INSTANCE_LEVEL.get(method)
            if interaction is not None:
                return Route(interaction, _type(rtype), check_id(rid))
        case [rtype, rid, "_history"]:
            if method == "GET":
                return Route(Interaction.HISTORY_INSTANCE, _type(rtype), check_id(rid))
        case [rtype, rid, "_history", vid]:
            if method == "GET":
                return Route(
                    Interaction.VREAD, _type(rtype), check_id(rid), check_id(vid, "version id")
                )
        case _:
            raise NotFound(f"No FHIR endpoint at '{'/'.join(segments)[:120]}'")
    raise MethodNotAllowed(f"{method} is not allowed on '{'/'.join(segments)[:120] or '/'}'")
