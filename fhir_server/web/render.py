"""The one renderer of responses and of errors as OperationOutcome.

JSON bodies go out as built or stored (the fast path). When XML was negotiated, the same
JSON body is written as FHIR XML (http://hl7.org/fhir/R4/xml.html): resources, Bundles and
OperationOutcomes alike, so an error reads the same in either format.
"""

from __future__ import annotations

from fhir_server.errors import FhirError
from fhir_server.exchange import FhirResponse
from fhir_server.outcome import operation_outcome
from fhir_server.resource_json import dump, dump_pretty, load_json
from fhir_server.web.negotiation import FHIR_JSON, is_xml
from fhir_server.xml_format import render_xml

__all__ = ["RenderedResponse", "render_error", "render_response"]

RenderedResponse = tuple[int, list[tuple[bytes, bytes]], bytes]


def _content_type(media: str) -> bytes:
    return f"{media}; charset=utf-8".encode()


def render_response(response: FhirResponse, media: str, pretty: bool) -> RenderedResponse:
    headers = [(name.lower().encode(), value.encode()) for name, value in response.headers.items()]
    body = response.body or b""
    if body:
        if is_xml(media):
            # A body that XML cannot carry raises NotAcceptable, rendered as an OperationOutcome.
            body = render_xml(load_json(body), pretty=pretty)
        elif pretty:
            body = dump_pretty(load_json(body))
        headers.append((b"content-type", _content_type(media)))
    return response.status, headers, body


def render_error(
    error: FhirError, media: str = FHIR_JSON, pretty: bool = False
) -> RenderedResponse:
    outcome = operation_outcome(error.issues)
    body = None
    if is_xml(media):
        try:
            body = render_xml(outcome, pretty=pretty)
        except FhirError:
            # A diagnostic echoing a character XML 1.0 cannot hold: JSON can, so say it there.
            media = FHIR_JSON
    if body is None:
        body = dump_pretty(outcome) if pretty else dump(outcome)
    headers = [(name.lower().encode(), value.encode()) for name, value in error.headers.items()]
    headers.append((b"content-type", _content_type(media)))
    return error.status, headers, body
