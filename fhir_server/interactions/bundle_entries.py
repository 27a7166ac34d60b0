"""Reading the entries of a transaction or batch Bundle (http://hl7.org/fhir/R4/http.html#transaction).

Each entry's `request` (method, url, ifMatch, ifNoneMatch, ifNoneExist, ifModifiedSince)
is routed with the same URL grammar as a plain HTTP request, so an entry means exactly
what the same request would mean on its own. Errors name the entry by its index in the
Bundle (`Bundle.entry[3]`), the way the client will look for it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from fhir_server.errors import BadRequest, FhirError
from fhir_server.exchange import FhirRequest, Interaction
from fhir_server.interactions.json_patch import JSON_PATCH_MEDIA, check_json_patch
from fhir_server.resource_json import load_json
from fhir_server.routing import Route, route

__all__ = [
    "BundleEntry",
    "at_entry",
    "entry_request",
    "parse_entries",
    "parse_entry",
    "phase_of",
    "raw_entries",
]

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
# http.html#trules: DELETE, then POST, then PUT/PATCH, then GET/HEAD.
_PHASE = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_HEADERS = {
    "ifMatch": "if-match",
    "ifNoneMatch": "if-none-match",
    "ifNoneExist": "if-none-exist",
    "ifModifiedSince": "if-modified-since",
}
_NESTED = (Interaction.TRANSACTION, Interaction.BATCH)


@dataclass(slots=True)
class BundleEntry:
    """One entry's request, routed and checked."""

    index: int
    method: str
    url: str
    route: Route
    full_url: str | None
    params: list[tuple[str, str]]
    headers: dict[str, str]
    resource: dict[str, Any] | None
    json_patch: list[Any] | None = None
    where: str = field(init=False)

    def __post_init__(self) -> None:
        self.where = f"Bundle.entry[{self.index}]"

    @property
    def is_conditional(self) -> bool:
        return self.route.resource_id is None and self.route.resource_type is not None


def at_entry(index: int, error: FhirError, element: str | None = None) -> FhirError:
    """The same error, naming the entry it happened in (diagnostics and expressions).
    The error's expressions are paths in the entry's resource, or in the entry itself when
    they start at `request.` or `fullUrl`; `element` (`request.ifNoneExist`) replaces
    them, for errors about that element's content (a search parameter in criteria)."""
    where = f"Bundle.entry[{index}]"
    if error.diagnostics.startswith(where):
        return error
    if element is not None:
        expression: tuple[str, ...] = (f"{where}.{element}",)
    else:
        expression = tuple(_in_entry(where, e) for e in error.expression) or (where,)
    moved = type(error)(
        diagnostics=f"{where}: {error.diagnostics}",
        expression=expression,
        extra_issues=error.extra_issues,
        headers=error.headers,
    )
    moved.__cause__ = error
    return moved


def _in_entry(where: str, expression: str) -> str:
    if expression.startswith(("request.", "fullUrl")):
        return f"{where}.{expression}"
    return f"{where}.resource{_after_type(expression)}"


def _after_type(expression: str) -> str:
    # `Patient.name[0]` → `.name[0]`; a bare element name gains its dot.
    head, dot, rest = expression.partition(".")
    if dot and head[:1].isupper():
        return f".{rest}"
    return f".{expression}"


def phase_of(entry: BundleEntry) -> int:
    return _PHASE[entry.method]


def parse_entries(body: dict[str, Any], bundle_type: str, base_url: str) -> list[BundleEntry]:
    """The entries of a `bundle_type` Bundle, or BadRequest naming the first bad one."""
    return [parse_entry(i, raw, base_url) for i, raw in enumerate(raw_entries(body, bundle_type))]


def raw_entries(body: dict[str, Any], bundle_type: str) -> list[Any]:
    """The entries of a `bundle_type` Bundle, unread."""
    if body.get("resourceType") != "Bundle":
        raise BadRequest("A transaction or batch is a Bundle resource", ("resourceType",))
    if body.get("type") != bundle_type:
        raise BadRequest(
            f"Bundle.type must be '{bundle_type}' here, not '{str(body.get('type'))[:40]}'",
            ("Bundle.type",),
        )
    entries = body.get("entry", [])
    if not isinstance(entries, list):
        raise BadRequest("Bundle.entry must be an array", ("Bundle.entry",))
    return entries


def parse_entry(index: int, raw: object, base_url: str) -> BundleEntry:
    """One entry, or the error (naming the entry) that makes it unusable."""
    try:
        return _entry(index, raw, base_url)
    except FhirError as error:
        raise at_entry(index, error) from error


def _entry(index: int, raw: object, base_url: str) -> BundleEntry:
    if not isinstance(raw, dict):
        raise BadRequest("An entry must be a JSON object")
    request = raw.get("request")
    if not isinstance(request, dict):
        raise BadRequest("The entry has no request (method and url)")
    method = request.get("method")
    url = request.get("url")
    if method not in _METHODS or not isinstance(url, str) or not url:
        raise BadRequest(f"request.method must be one of {', '.join(_METHODS)}, with a url")
    target, params = _route(method, url, base_url)
    if target.interaction in _NESTED:
        raise BadRequest("A Bundle entry cannot itself be a transaction or batch")
    full_url = raw.get("fullUrl")
    if full_url is not None and (not isinstance(full_url, str) or not full_url):
        raise BadRequest("fullUrl must be a non-empty string")
    resource = raw.get("resource")
    if resource is not None and not isinstance(resource, dict):
        raise BadRequest("The entry's resource must be a JSON object")
    headers = {}
    for key, name in _HEADERS.items():
        value = request.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            # A condition silently dropped would turn the entry into an unconditional write.
            raise BadRequest(f"request.{key} must be a non-empty string", (f"request.{key}",))
        headers[name] = value
    entry = BundleEntry(index, method, url, target, full_url, params, headers, resource)
    _check_body(entry)
    return entry


def _route(method: str, url: str, base_url: str) -> tuple[Route, list[tuple[str, str]]]:
    if url.startswith(("http://", "https://")):
        if not url.startswith(base_url + "/"):
            raise BadRequest(f"request.url '{url[:120]}' is not on this server's base")
        url = url[len(base_url) + 1 :]
    if "?" in url or "%" in url or "#" in url:
        parts = urlsplit(url)
        path, params = parts.path, parse_qsl(parts.query, keep_blank_values=True)
    else:  # `Patient`, `Patient/123`: most entries, and the hot path of a large transaction
        path, params = url, []
    segments = [unquote(s) for s in path.strip("/").split("/") if s]
    if not segments:
        raise BadRequest("request.url must name a resource type")
    # HEAD is GET without the body (http.html#read).
    return route("GET" if method == "HEAD" else method, segments), params


def _check_body(entry: BundleEntry) -> None:
    interaction = entry.route.interaction
    if interaction in (Interaction.CREATE, Interaction.UPDATE):
        resource = entry.resource
        if resource is None:
            raise BadRequest(f"A {entry.method} entry needs a resource")
        if resource.get("resourceType") != entry.route.resource_type:
            raise BadRequest(
                f"The resource's type '{str(resource.get('resourceType'))[:60]}' does not "
                f"match request.url '{entry.url[:80]}'",
                ("resourceType",),
            )
    elif interaction is Interaction.PATCH:
        entry.json_patch = _binary_patch(entry.resource)


def _binary_patch(resource: dict[str, Any] | None) -> list[Any] | None:
    """A JSON Patch travels in a Bundle as a Binary (http.html#patch); a FHIRPath Patch as
    the Parameters resource itself (None here)."""
    if resource is None:
        raise BadRequest("A PATCH entry needs a Binary (JSON Patch) or Parameters resource")
    if resource.get("resourceType") == "Parameters":
        return None
    if resource.get("resourceType") != "Binary" or resource.get("contentType") != JSON_PATCH_MEDIA:
        raise BadRequest(
            f"A PATCH entry's resource must be Parameters or a Binary of {JSON_PATCH_MEDIA}"
        )
    try:
        document = load_json(base64.b64decode(str(resource.get("data", "")), validate=True))
    except (binascii.Error, orjson.JSONDecodeError) as exc:
        raise BadRequest("The Binary's data is not base64-encoded JSON Patch") from exc
    check_json_patch(document)
    assert isinstance(document, list)
    return document


def entry_request(parent: FhirRequest, entry: BundleEntry) -> FhirRequest:
    """The entry as a request of its own, on the parent's tenant and base."""
    headers = dict(entry.headers)
    prefer = parent.header("prefer")
    if prefer:
        headers["prefer"] = prefer
    is_patch_document = entry.json_patch is not None
    return FhirRequest(
        tenant=parent.tenant,
        interaction=entry.route.interaction,
        method=entry.method,
        base_url=parent.base_url,
        resource_type=entry.route.resource_type,
        resource_id=entry.route.resource_id,
        version_id=entry.route.version_id,
        params=entry.params,
        headers=headers,
        body=None if is_patch_document else entry.resource,
        operation=entry.route.operation,
        json_patch=entry.json_patch,
    )
