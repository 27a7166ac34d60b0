"""The entries of a `transaction-response` or `batch-response` Bundle.

http://hl7.org/fhir/R4/http.html#transaction-response: one entry per request entry, in the
request's order, each with `response.status` and, where they apply, `location`, `etag`,
`lastModified` and an `outcome`. The resource itself is included for reads, and for
writes only when `Prefer: return=representation` asks for it (http.html#ops); with
`Prefer: return=OperationOutcome` a write's entry carries an informational outcome.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import orjson

from fhir_server.errors import FhirError, Issue
from fhir_server.exchange import FhirRequest, FhirResponse
from fhir_server.instants import format_instant
from fhir_server.interactions.bundle_entries import BundleEntry
from fhir_server.interactions.bundles import bundle_bytes, entry_bytes
from fhir_server.interactions.responses import etag
from fhir_server.outcome import operation_outcome
from fhir_server.storage.contracts import StoredVersion

__all__ = [
    "error_entry",
    "prefer_return",
    "response_bundle",
    "response_entry",
    "status_line",
    "stored_entry",
]


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def prefer_return(request: FhirRequest) -> str | None:
    """The `return=` of the request's Prefer header, if it gives one."""
    for part in (request.header("prefer") or "").split(","):
        for token in part.split(";"):
            name, _, value = token.strip().partition("=")
            if name.strip().lower() == "return":
                return value.strip().strip('"')
    return None


def _full_url(base: str, stored: StoredVersion) -> str:
    return f"{base}/{stored.resource_type}/{stored.id}"


def stored_entry(
    request: FhirRequest, status: str, stored: StoredVersion | None, note: str | None = None
) -> bytes:
    """The entry of a write the transaction itself carried out."""
    base = request.base_url
    response: dict[str, Any] = {"status": status}
    if stored is None:
        if note:
            response["outcome"] = _informational(note)
        return entry_bytes(full_url=None, resource=None, response=response)
    response["location"] = f"{_full_url(base, stored)}/_history/{stored.version}"
    response["etag"] = etag(stored.version)
    response["lastModified"] = format_instant(stored.last_updated_us)
    prefer = prefer_return(request)
    resource = None
    if prefer == "representation" and stored.body is not None:
        resource = stored.body
    elif prefer == "OperationOutcome":
        text = note or f"{stored.resource_type}/{stored.id} version {stored.version}"
        response["outcome"] = _informational(text)
    return entry_bytes(full_url=_full_url(base, stored), resource=resource, response=response)


def response_entry(request: FhirRequest, entry: BundleEntry, answer: FhirResponse) -> bytes:
    """The entry of a request that was run as a request of its own."""
    response: dict[str, Any] = {"status": status_line(answer.status)}
    headers = {name.lower(): value for name, value in answer.headers.items()}
    if "location" in headers:
        response["location"] = headers["location"]
    if "etag" in headers:
        response["etag"] = headers["etag"]
    if "last-modified" in headers:
        response["lastModified"] = _instant(headers["last-modified"])
    resource = None
    body = answer.body
    if body is not None and entry.method != "HEAD":
        is_outcome = body.startswith(b'{"resourceType":"OperationOutcome"')
        if is_outcome and entry.method != "GET":
            response["outcome"] = orjson.loads(body)
        elif entry.method == "GET" or prefer_return(request) == "representation":
            resource = body
    full_url = None
    if answer.resource_type and answer.resource_id and entry.method != "DELETE":
        full_url = f"{request.base_url}/{answer.resource_type}/{answer.resource_id}"
    return entry_bytes(full_url=full_url, resource=resource, response=response)


def error_entry(error: FhirError) -> bytes:
    """The entry of a request that failed: its status and OperationOutcome."""
    response = {"status": status_line(error.status), "outcome": operation_outcome(error.issues)}
    return entry_bytes(full_url=None, resource=None, response=response)


def response_bundle(bundle_type: str, entries: list[bytes]) -> FhirResponse:
    body = bundle_bytes(bundle_type, total=None, links=[], entries=entries)
    return FhirResponse(200, body)


def _informational(text: str) -> dict[str, Any]:
    return operation_outcome([Issue("informational", text, severity="information")])


def _instant(http_date: str) -> str:
    try:
        moment = parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return http_date
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
