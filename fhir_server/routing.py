"""Routing a FHIR REST URL to an interaction (http://hl7.org/fhir/R4/http.html).

Given the method and the path segments below the tenant's base, return which interaction
is meant and its parts; the URL grammar lives here, not in the web framework.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fhir_server.errors import BadRequest, FhirError, MethodNotAllowed, NotFound
from fhir_server.exchange import Interaction
from fhir_server.resource_types import is_resource_type

__all__ = ["EVERY_TYPE", "Route", "bundle_interaction", "check_id", "route"]

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# An operation name in a URL (operations.html#executing): `$` and a code.
_OPERATION = re.compile(r"\$[A-Za-z][A-Za-z0-9\-]{0,63}")
_OPERATION_METHODS = ("GET", "POST")


@dataclass(frozen=True, slots=True)
class Route:
    interaction: Interaction
    resource_type: str | None = None
    resource_id: str | None = None
    version_id: str | None = None
    compartment: tuple[str, str, str] | None = None
    operation: str | None = None  # `$validate`, ... for Interaction.OPERATION


def _is_operation(segment: str) -> bool:
    return segment.startswith("$")


def _operation(
    method: str,
    segment: str,
    resource_type: str | None = None,
    resource_id: str | None = None,
    version_id: str | None = None,
) -> Route:
    if not _OPERATION.fullmatch(segment):
        raise NotFound(f"'{segment[:80]}' is not a valid operation name")
    if method not in _OPERATION_METHODS:
        raise MethodNotAllowed(f"Operations are invoked with GET or POST, not {method}")
    return Route(
        Interaction.OPERATION,
        resource_type,
        resource_id,
        version_id,
        operation=segment[1:],
    )


def check_id(text: str, what: str = "id") -> str:
    """`text` if it is a valid FHIR id (datatypes.html#id), else BadRequest."""
    if not _ID.fullmatch(text):
        raise BadRequest(
            f"'{text[:80]}' is not a valid {what}: 1-64 characters of A-Z, a-z, 0-9, '-' and '.'"
        )
    return text


# The last segment of a compartment search across every type (`Patient/123/*`).
EVERY_TYPE = "*"


def _compartment_search(compartment: tuple[str, str, str]) -> Route:
    """A search in a compartment: of one type, or of every type it holds (`*`)."""
    target = compartment[2]
    if target == EVERY_TYPE:
        return Route(Interaction.SEARCH_SYSTEM, compartment=compartment)
    return Route(Interaction.SEARCH_TYPE, target, compartment=compartment)


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


def bundle_interaction(body: Mapping[str, Any]) -> Interaction:
    """What a POST of a Bundle to the base means (http.html#transaction): a `batch` Bundle
    is a batch, anything else is treated as a transaction (and refused there if it is not
    a `transaction` Bundle)."""
    return Interaction.BATCH if body.get("type") == "batch" else Interaction.TRANSACTION


def route(method: str, segments: list[str]) -> Route:
    """The interaction a request means, or NotFound / MethodNotAllowed / BadRequest; a
    405 names the methods the path takes in `Allow` (RFC 9110 15.5.6)."""
    try:
        return _route(method, segments)
    except MethodNotAllowed as exc:
        exc.headers.setdefault("Allow", ", ".join(_allowed_methods(segments)))
        raise


def _route(method: str, segments: list[str]) -> Route:
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
        case [op] if _is_operation(op):
            return _operation(method, op)
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
        case [rtype, op] if _is_operation(op):
            return _operation(method, op, resource_type=_type(rtype))
        case [rtype, rid]:
            interaction = _INSTANCE_LEVEL.get(method)
            if interaction is not None:
                return Route(interaction, _type(rtype), check_id(rid))
        case [rtype, rid, "_history"]:
            if method == "GET":
                return Route(Interaction.HISTORY_INSTANCE, _type(rtype), check_id(rid))
        case [rtype, rid, op] if _is_operation(op):
            return _operation(method, op, resource_type=_type(rtype), resource_id=check_id(rid))
        case [rtype, rid, "_history", vid]:
            if method == "GET":
                return Route(
                    Interaction.VREAD, _type(rtype), check_id(rid), check_id(vid, "version id")
                )
        case [rtype, rid, "_history", vid, op] if _is_operation(op):
            return _operation(
                method,
                op,
                resource_type=_type(rtype),
                resource_id=check_id(rid),
                version_id=check_id(vid, "version id"),
            )
        # compartment search (http.html#search): GET .../[type] or .../*, POST .../_search
        case [ctype, cid, target] if is_resource_type(target) or target == EVERY_TYPE:
            compartment = (_type(ctype), check_id(cid), target)
            if method == "GET":
                return _compartment_search(compartment)
        case [ctype, cid, *target, "_search"] if len(target) < 2 and is_resource_type(ctype):
            of_type = _type(target[0]) if target else EVERY_TYPE
            compartment = (_type(ctype), check_id(cid), of_type)
            if method == "POST":
                return _compartment_search(compartment)
        case _:
            raise NotFound(f"No FHIR endpoint at '{'/'.join(segments)[:120]}'")
    raise MethodNotAllowed(f"{method} is not allowed on '{'/'.join(segments)[:120] or '/'}'")


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(segments: list[str]) -> list[str]:
    """The methods some interaction takes at `segments`; HEAD wherever GET is."""
    return [m for m in _METHODS if _takes("GET" if m == "HEAD" else m, segments)]


def _takes(method: str, segments: list[str]) -> bool:
    try:
        _route(method, segments)
    except MethodNotAllowed:
        return False
    except FhirError:
        return True  # the method is routed here; this request's id or type is what is wrong
    return True
