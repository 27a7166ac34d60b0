"""The FHIR REST endpoint, `/fhir/{tenant}/...`, as a plain ASGI application.

Plain ASGI rather than a framework route: this is the hot path, and every layer between
the socket and the stored bytes costs requests per second. It does only HTTP work (read
the body within limits, negotiate formats, route the URL) and hands a `FhirRequest` to the
pipeline.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import parse_qsl, unquote

from fhir_server.errors import (
    BadRequest,
    FhirError,
    NotFound,
    PayloadTooLarge,
    ServerFault,
    UnsupportedMediaType,
)
from fhir_server.exchange import FhirRequest, Interaction
from fhir_server.interactions.json_patch import is_json_patch_media, parse_json_patch
from fhir_server.pipeline import Pipeline
from fhir_server.routing import bundle_interaction, route
from fhir_server.settings import Settings
from fhir_server.text import clamped_int, is_ascii_digits
from fhir_server.web.date_header import date_header
from fhir_server.web.negotiation import FHIR_JSON, read_body, response_media_type
from fhir_server.web.render import RenderedResponse, render_error, render_response
from tenancy import InvalidTenantName, TenantId, parse_tenant_id

__all__ = ["FhirEndpoint"]

_log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]

_BODY_INTERACTIONS = {
    Interaction.CREATE,
    Interaction.UPDATE,
    Interaction.TRANSACTION,
    Interaction.PATCH,
}
_FORM = "application/x-www-form-urlencoded"
_SEARCHES = (Interaction.SEARCH_TYPE, Interaction.SEARCH_SYSTEM)


class FhirEndpoint:
    def __init__(self, pipeline: Pipeline, settings: Settings) -> None:
        self._pipeline = pipeline
        self._settings = settings

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        params = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        pretty = any(k == "_pretty" and v == "true" for k, v in params)
        media = FHIR_JSON
        try:
            # an unknown tenant is 404 whatever else the request gets wrong, in the format
            # the client asked for when that is one this server writes
            try:
                tenant, segments = self._tenant_and_path(scope)
            except NotFound:
                media = _media_if_any(params, scope)
                raise
            headers = _header_fields(scope["headers"])
            media = response_media_type(_last(params, "_format"), headers.get("accept"))
            request = await self._fhir_request(scope, receive, headers, params, tenant, segments)
            response = await self._pipeline.handle(request)
            rendered = render_response(response, media, pretty)
        except FhirError as error:
            try:
                rendered = render_error(error, media, pretty)
            except Exception:  # e.g. a message quoting text that cannot be encoded
                rendered = _fault(FHIR_JSON)
        except Exception as exc:  # never a stack trace to the client, nor to the log:
            # exception messages can quote request values, which can be PHI
            _log.error("unhandled error: %s", type(exc).__name__)
            rendered = _fault(media)
        await _send(send, rendered, with_body=scope["method"] != "HEAD")

    def _tenant_and_path(self, scope: Scope) -> tuple[TenantId, list[str]]:
        """The tenant the path names (known, else NotFound), and the segments after it."""
        # Split the raw path, then decode each segment once (`scope["path"]` is already
        # decoded: splitting it would cut an id at an encoded '/', decoding it again would
        # turn '%2525' into '%').
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        segments = [unquote(s.decode("latin-1")) for s in raw_path.split(b"?")[0].split(b"/")[2:]]
        while segments and segments[-1] == "":
            segments.pop()
        if not segments:
            raise NotFound("The FHIR base is /fhir/{tenant}")
        try:
            tenant = parse_tenant_id(segments[0])
        except InvalidTenantName as exc:
            raise NotFound(f"Unknown tenant '{segments[0][:64]}'") from exc
        if not self._pipeline.tenant_exists(tenant):
            raise NotFound(f"Unknown tenant '{tenant}'")
        return tenant, segments[1:]

    async def _fhir_request(
        self,
        scope: Scope,
        receive: Any,
        headers: dict[str, str],
        params: list[tuple[str, str]],
        tenant: TenantId,
        segments: list[str],
    ) -> FhirRequest:
        # HEAD is GET without the body (RFC 9110 9.3.2), which _send leaves out
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        target = route(method, segments)
        raw = await _read_body(receive, headers, self._settings.max_body_bytes)
        _refuse_content_coding(headers.get("content-encoding"), raw)
        body = None
        json_patch = None
        content_type = headers.get("content-type")
        if raw and content_type and content_type.split(";")[0].strip().lower() == _FORM:
            if target.interaction in _BODY_INTERACTIONS:  # a resource, not search criteria
                raise UnsupportedMediaType(
                    f"{target.interaction.value} needs a FHIR resource, not a form: send "
                    "application/fhir+json or application/fhir+xml"
                )
            params = [*params, *parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)]
        elif target.interaction in _SEARCHES and raw.strip():
            # http.html#search: POST _search criteria come as a form; any other body would
            # be dropped, and the client would take its filter as applied
            raise UnsupportedMediaType(
                f"POST _search takes its parameters as {_FORM}, not "
                f"{(content_type or 'a body without a Content-Type')[:80]}"
            )
        elif target.interaction is Interaction.PATCH and is_json_patch_media(content_type):
            json_patch = parse_json_patch(raw)
        elif target.interaction in _BODY_INTERACTIONS or (
            target.interaction is Interaction.OPERATION and raw.strip()
        ):
            try:
                body = read_body(raw, content_type)  # JSON, or XML read into its JSON form
            except UnsupportedMediaType as exc:
                if target.interaction is not Interaction.PATCH:
                    raise
                raise UnsupportedMediaType(
                    f"{exc.diagnostics} (a FHIRPath Patch), or application/json-patch+json "
                    "(a JSON Patch)"
                ) from exc
        interaction = target.interaction
        if interaction is Interaction.TRANSACTION and body is not None:
            interaction = bundle_interaction(body)  # batch or transaction, by Bundle.type
        return FhirRequest(
            tenant=tenant,
            interaction=interaction,
            method=method,
            base_url=self._base_url(scope, headers, tenant),
            resource_type=target.resource_type,
            resource_id=target.resource_id,
            version_id=target.version_id,
            compartment=target.compartment,
            params=params,
            headers=headers,
            body=body,
            operation=target.operation,
            json_patch=json_patch,
        )

    def _base_url(self, scope: Scope, headers: dict[str, str], tenant: TenantId) -> str:
        if self._settings.base_url:
            return f"{self._settings.base_url.rstrip('/')}/fhir/{tenant}"
        host = headers.get("host") or "localhost"
        if not _HOST.fullmatch(host):
            # The Host header ends up in fullUrl, Location and links: only a host[:port].
            raise BadRequest("The Host header is not a valid host name (set FHIR_BASE_URL)")
        return f"{scope.get('scheme', 'http')}://{host}/fhir/{tenant}"


_HOST = re.compile(r"[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")
_FAULT_BODY = (
    b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception",'
    b'"diagnostics":"The server could not complete the request"}]}'
)


def _fault(media: str) -> RenderedResponse:
    """The 500 OperationOutcome; fixed bytes if even rendering it fails."""
    try:
        return render_error(ServerFault("The server could not complete the request"), media)
    except Exception:  # rendering is the last resort: answer with constant JSON
        return 500, [(b"content-type", b"application/fhir+json; charset=utf-8")], _FAULT_BODY


def _media_if_any(params: list[tuple[str, str]], scope: Scope) -> str:
    """The response format the request negotiates, or JSON when it negotiates none."""
    try:
        headers = _header_fields(scope["headers"])
        return response_media_type(_last(params, "_format"), headers.get("accept"))
    except FhirError:
        return FHIR_JSON


def _last(params: list[tuple[str, str]], name: str) -> str | None:
    found = None
    for key, value in params:
        if key == name:
            found = value
    return found


def _refuse_content_coding(coding: str | None, raw: bytes) -> None:
    """A body sent compressed is not decoded here: read as it stands it would be taken for
    garbage, or worse, for something else (RFC 9110 15.5.16: 415 for a content coding the
    server does not accept)."""
    if raw and coding is not None and coding.strip().lower() not in ("", "identity"):
        raise UnsupportedMediaType(
            f"Content-Encoding '{coding[:40]}' is not accepted: send the body uncompressed"
        )


async def _read_body(receive: Any, headers: dict[str, str], limit: int) -> bytes:
    declared = headers.get("content-length")
    if declared is not None:
        if not is_ascii_digits(declared):
            raise BadRequest("Content-Length must be a number")
        if clamped_int(declared, limit + 1) > limit:
            raise PayloadTooLarge(f"The body is larger than the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


# Fields that hold one value, not a list: sent twice they are ambiguous (which type is the
# body? which criteria?), unless both lines say the same (RFC 9110 8.6 allows that much).
_SINGLE_VALUED = frozenset(
    {"authorization", "content-length", "content-type", "host", "if-none-exist"}
)


def _header_fields(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Request header fields by lower-case name. A list-valued field sent on several lines
    is one comma-separated list (RFC 9110 5.3): `Prefer: handling=strict` and `Prefer:
    return=minimal` on two lines both count."""
    fields = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}
    if len(fields) == len(raw):
        return fields  # no field sent twice: the usual request, on the read path
    fields = {}
    for key, value in raw:
        name, text = key.decode("latin-1").lower(), value.decode("latin-1")
        if name not in fields:
            fields[name] = text
        elif name not in _SINGLE_VALUED:
            fields[name] = f"{fields[name]}, {text}"
        elif fields[name] != text:
            raise BadRequest(f"The {name} header was sent twice, with different values")
    return fields


async def _send(send: Any, rendered: RenderedResponse, with_body: bool = True) -> None:
    status, headers, body = rendered
    headers.append((b"content-length", str(len(body)).encode()))
    headers.append(date_header())
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body if with_body else b""})
