"""Responses that carry one resource: headers, `Prefer: return=`, `_summary`, `_elements`.

See http://hl7.org/fhir/R4/http.html#ops (Prefer) and search.html#summary / #elements.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import BadRequest, Issue
from fhir_server.exchange import FhirRequest, FhirResponse
from fhir_server.instants import last_modified
from fhir_server.outcome import operation_outcome
from fhir_server.resource_json import dump, load_json
from fhir_server.storage.contracts import StoredVersion
from fhir_server.summary import mark_subsetted, select_elements, summarize

__all__ = ["etag", "representation_options", "resource_response", "shape_resource"]

_SUMMARY_MODES = ("true", "false", "text", "data", "count")


def etag(version: int) -> str:
    return f'W/"{version}"'


def representation_options(request: FhirRequest) -> tuple[str | None, list[str] | None]:
    """`_summary` and `_elements` of the request, validated."""
    summary = request.param("_summary")
    if summary is not None and summary not in _SUMMARY_MODES:
        raise BadRequest(
            f"_summary must be one of {', '.join(_SUMMARY_MODES)}, not '{summary[:40]}'",
            ("_summary",),
        )
    elements_text = request.param("_elements")
    elements = None
    if elements_text is not None:
        elements = [e.strip() for e in elements_text.split(",") if e.strip()]
    return summary, elements


def shape_resource(body: bytes, summary: str | None, elements: list[str] | None) -> bytes:
    """Apply `_summary`/`_elements` to stored JSON bytes; untouched bytes when neither asks."""
    if (summary is None or summary == "false") and not elements:
        return body
    resource: dict[str, Any] = load_json(body)
    if summary is not None and summary not in ("false", "count"):
        resource = mark_subsetted(summarize(resource, summary))
    elif elements:
        resource = mark_subsetted(select_elements(resource, elements))
    return dump(resource)


def resource_response(
    request: FhirRequest,
    stored: StoredVersion,
    *,
    status: int = 200,
    location: bool = False,
    outcome_text: str | None = None,
    honour_prefer: bool = True,
) -> FhirResponse:
    """A response about `stored`: ETag, Last-Modified, Location, and the body that the
    request's `Prefer: return=` asks for (representation unless said otherwise)."""
    headers = {
        "ETag": etag(stored.version),
        "Last-Modified": last_modified(stored.last_updated_us),
    }
    if location:
        headers["Location"] = (
            f"{request.base_url}/{stored.resource_type}/{stored.id}/_history/{stored.version}"
        )
    prefer = _prefer_return(request) if honour_prefer else "representation"
    body: bytes | None
    if prefer == "minimal":
        body = None
    elif prefer == "OperationOutcome":
        text = outcome_text or f"{stored.resource_type}/{stored.id} version {stored.version}"
        body = dump(operation_outcome([Issue("informational", text, severity="information")]))
    else:
        assert stored.body is not None
        summary, elements = representation_options(request)
        body = shape_resource(stored.body, summary, elements)
    return FhirResponse(status, body, headers, stored.resource_type, stored.id)


def _prefer_return(request: FhirRequest) -> str:
    prefer = request.header("prefer") or ""
    for part in prefer.split(","):
        for token in part.split(";"):
            name, _, value = token.strip().partition("=")
            if name.strip().lower() == "return":
                return value.strip().strip('"')
    return "representation"
