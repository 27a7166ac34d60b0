"""TestScript operations: build the HTTP request, send it, remember what came back.

Rules from testscript-definitions.html#TestScript.setup.action.operation:

- `url` wins (relative URLs are taken against the base URL); else `params` are appended to
  `[base]/[resource]`; else `targetId` addresses the fixture's copy on the server
  (`/_history/[vid]` for vread, `/_history` for history); else the `type` decides
  (`metadata` for capabilities, the base for transaction/batch, `[base]/[resource]` for
  create/search, `$code` for the named FHIR operations).
- `method` wins over the method implied by `type`
  (http://terminology.hl7.org/CodeSystem/testscript-operation-codes).
- `sourceId` is the body of a POST/PUT/PATCH, in `contentType` (JSON by default).
- `accept`/`contentType` are MIME types or the old short codes.
- `encodeRequestUrl` percent-encodes what a URL may not carry (spaces, quotes, braces);
  when false the URL is sent as written (httpx still escapes what HTTP cannot carry).
- `responseId`/`requestId` store the exchange as a fixture; a successful create or update
  of `sourceId` records where that fixture now lives on the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from conformance.content import FHIR_JSON, BodyError, Content, mime_type, serialize
from conformance.fixtures import FixtureError, FixtureStore, ServerId, flag
from conformance.outcome import Outcome, said
from conformance.transport import Exchange, Transport
from conformance.variables import UnresolvedVariableError, VariableScope

__all__ = ["OperationError", "Prepared", "execute", "operation_code", "prepare"]

OPERATION_CODES = "http://terminology.hl7.org/CodeSystem/testscript-operation-codes"

_METHODS = {
    "read": "GET",
    "vread": "GET",
    "search": "GET",
    "history": "GET",
    "capabilities": "GET",
    "create": "POST",
    "transaction": "POST",
    "batch": "POST",
    "update": "PUT",
    "updateCreate": "PUT",
    "delete": "DELETE",
    "deleteCondSingle": "DELETE",
    "deleteCondMultiple": "DELETE",
    "patch": "PATCH",
}
# Characters left alone when encoding: URL delimiters and existing %-escapes. Not `+`: in a
# query a server reads it as a space, and a script's `+` is a plus (a zone, `+01:00`).
_URL_SAFE = ":/?#[]@!$&'()*,;=%-._~"


class OperationError(ValueError):
    """An operation that cannot be turned into a request."""


@dataclass
class Prepared:
    """A request ready to send."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None
    content: Content | None = None
    notes: list[str] = field(default_factory=list)


def operation_code(operation: dict[str, Any]) -> str | None:
    kind = operation.get("type")
    code = kind.get("code") if isinstance(kind, dict) else None
    return str(code) if code else None


def prepare(
    operation: dict[str, Any], base_url: str, store: FixtureStore, scope: VariableScope
) -> Prepared:
    """The request an operation describes; raises OperationError."""
    code = operation_code(operation)
    try:
        source_id = operation.get("sourceId")
        source = store.content(str(source_id)) if source_id else None
        explicit = operation.get("method")
        method = str(explicit or _METHODS.get(code or "") or ("POST" if source else "GET"))
        method = method.upper()
        url = _url(operation, code, base_url.rstrip("/"), store, scope, source)
        headers = _headers(operation, scope)
    except (FixtureError, UnresolvedVariableError) as exc:
        raise OperationError(str(exc)) from exc
    if flag(operation.get("encodeRequestUrl", True)):
        url = quote(url, safe=_URL_SAFE)
    prepared = Prepared(method, url, headers)
    if source is not None and method in ("POST", "PUT", "PATCH"):
        if code in ("update", "updateCreate"):
            source = _aligned_id(source, url, prepared.notes)
        _attach_body(prepared, operation, source, scope, code)
    return prepared


def _aligned_id(source: Content, url: str, notes: list[str]) -> Content:
    """The fixture with the id of the URL it is PUT to.

    http.html#update: a body whose id differs from the URL's gets 400 from any conforming
    server, and scripts reuse one fixture file (id "example2") to update another id.
    """
    target = ServerId.from_location(url)
    if target is None or target.resource_type != source.resource_type:
        return source
    if source.resource_id == target.id:
        return source
    notes.append(f"body id {source.resource_id!r} sent as {target.id!r} to match the URL")
    return Content(dict(source.data, id=target.id))


def _url(
    operation: dict[str, Any],
    code: str | None,
    base: str,
    store: FixtureStore,
    scope: VariableScope,
    source: Content | None,
) -> str:
    if operation.get("url"):
        url = scope.substitute(str(operation["url"]))
        return url if "://" in url else f"{base}/{url.lstrip('/')}"
    params = scope.substitute_optional(operation.get("params"))
    target_id = operation.get("targetId")
    resource = operation.get("resource")
    if code == "capabilities":
        return f"{base}/metadata{params or ''}"
    if code in ("transaction", "batch"):
        return base
    if params is not None:
        if not params.startswith(("/", "?")):
            params = f"?{params}"
        if not resource and target_id:
            resource = store.target(str(target_id)).resource_type
        return f"{base}/{resource}{params}" if resource else f"{base}{params}"
    if target_id:
        return _target_url(base, code, store.target(str(target_id)))
    if code in ("update", "updateCreate") and source is not None:
        identity = ServerId.from_content(source)
        if identity is not None:
            return f"{base}/{identity.resource_type}/{identity.id}"
    resource = resource or (source.resource_type if source else None)
    if code == "history":
        return f"{base}/{resource}/_history" if resource else f"{base}/_history"
    if code is not None and code not in _METHODS:
        return f"{base}/{resource}/${code}" if resource else f"{base}/${code}"
    if resource:
        return f"{base}/{resource}"
    raise OperationError("the operation gives no url, params, targetId or resource to address")


def _target_url(base: str, code: str | None, identity: ServerId) -> str:
    url = f"{base}/{identity.resource_type}/{identity.id}"
    if code == "vread":
        if not identity.version:
            raise OperationError(f"vread of {identity.resource_type}/{identity.id}: no version")
        return f"{url}/_history/{identity.version}"
    if code == "history":
        return f"{url}/_history"
    if code is not None and code not in _METHODS:
        return f"{url}/${code}"
    return url


def _headers(operation: dict[str, Any], scope: VariableScope) -> dict[str, str]:
    headers: dict[str, str] = {}
    accept = mime_type(operation.get("accept"), FHIR_JSON)
    if accept:
        headers["accept"] = accept
    for header in operation.get("requestHeader") or []:
        name = str(header.get("field") or "").strip()
        if name:
            headers[name.lower()] = scope.substitute(str(header.get("value") or ""))
    return headers


def _attach_body(
    prepared: Prepared,
    operation: dict[str, Any],
    source: Content,
    scope: VariableScope,
    code: str | None,
) -> None:
    default = FHIR_JSON
    if code == "patch" and isinstance(source.data, list):
        default = "application/json-patch+json"
    content_type = mime_type(operation.get("contentType"), default)
    try:
        body = serialize(source.data, content_type or default)
        if b"${" in body:
            # Touchstone lets fixtures carry variables too (e.g. an id created earlier).
            body = scope.substitute(body.decode()).encode()
    except (BodyError, UnresolvedVariableError) as exc:
        raise OperationError(f"cannot send fixture '{operation.get('sourceId')}': {exc}") from exc
    prepared.body = body
    prepared.content = source
    if content_type is not None:  # `none`: the body goes without one
        prepared.headers.setdefault("content-type", content_type)


def execute(
    operation: dict[str, Any], transport: Transport, store: FixtureStore, scope: VariableScope
) -> tuple[Outcome, Exchange | None]:
    """Run one operation; it passes when the server answered, whatever the status."""
    name = operation_code(operation) or "operation"
    try:
        prepared = prepare(operation, transport.base_url, store, scope)
    except OperationError as exc:
        return Outcome("operation", "error", said(operation, name, str(exc))), None
    exchange = transport.send(
        prepared.method, prepared.url, prepared.headers, prepared.body, prepared.content
    )
    store.last = exchange
    remember(operation, exchange, store)
    if exchange.status is None:
        return Outcome("operation", "error", said(operation, name, exchange.summary())), exchange
    notes = list(prepared.notes)
    if exchange.body_error:
        notes.append(f"body not parsed: {exchange.body_error}")
    message = said(operation, name, "; ".join([exchange.summary(), *notes]))
    return Outcome("operation", "pass", message), exchange


def remember(operation: dict[str, Any], exchange: Exchange, store: FixtureStore) -> None:
    """Store the exchange under responseId/requestId and track server identities."""
    if operation.get("responseId"):
        store.responses[str(operation["responseId"])] = exchange
    if operation.get("requestId"):
        store.requests[str(operation["requestId"])] = exchange
    if exchange.status is None or not 200 <= exchange.status < 300:
        return
    identity = ServerId.from_exchange(exchange)
    if exchange.method in ("POST", "PUT") and identity is None:
        identity = ServerId.from_exchange(_as_location(exchange))
    # A delete keeps the identity: a later read of the same targetId must address the
    # deleted resource (and get 404/410), never fall back to the fixture's own id.
    source_id = operation.get("sourceId")
    if exchange.method in ("POST", "PUT") and identity is not None:
        if source_id:
            store.server_ids[str(source_id)] = identity
            if exchange.status == 201:  # created by this run: autodelete's to remove
                store.place(str(source_id), identity)
        if operation.get("responseId"):
            store.server_ids[str(operation["responseId"])] = identity


def _as_location(exchange: Exchange) -> Exchange:
    # An update answered without Location or body still lives at the URL it was PUT to.
    return Exchange(exchange.method, exchange.url, {}, response_headers={"location": exchange.url})
