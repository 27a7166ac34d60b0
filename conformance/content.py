"""Bodies as the engine sees them: the JSON form, plus the original bytes when they were XML.

FHIR has two interchangeable formats (http://hl7.org/fhir/R4/formats.html); assertions work
on the JSON form, while XPath `path` assertions can use the original XML as it came.
MIME types follow http://hl7.org/fhir/R4/http.html#mime-type. R4 TestScripts give
`operation.accept`/`contentType` as MIME types, older scripts as the STU3 short codes
`json`, `xml`, `ttl` and `none`, so both are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from fhir_server.errors import FhirError
from fhir_server.resource_json import dump, load_json
from fhir_server.xml_format import parse_xml, render_xml

__all__ = [
    "FHIR_JSON",
    "FHIR_XML",
    "BodyError",
    "Content",
    "is_xml",
    "load_file",
    "media_type",
    "mime_type",
    "parse_body",
    "serialize",
]

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
_SHORT_CODES = {"json": FHIR_JSON, "xml": FHIR_XML, "ttl": "text/turtle", "none": ""}


class BodyError(ValueError):
    """A body or file that is neither JSON nor a FHIR XML resource."""


@dataclass(frozen=True, slots=True)
class Content:
    """A parsed body: `data` is the JSON form; `xml` the original bytes if it was XML."""

    data: Any
    xml: bytes | None = None

    @property
    def resource_type(self) -> str | None:
        if isinstance(self.data, dict):
            kind = self.data.get("resourceType")
            return kind if isinstance(kind, str) else None
        return None

    @property
    def resource_id(self) -> str | None:
        if isinstance(self.data, dict):
            value = self.data.get("id")
            return value if isinstance(value, str) else None
        return None


def mime_type(code: str | None, default: str | None) -> str | None:
    """The MIME type for an accept/contentType value; None when none should be sent."""
    if code is None or not code.strip():
        return default
    mapped = _SHORT_CODES.get(code.strip().lower(), code.strip())
    return mapped or None


def media_type(header: str | None) -> str:
    """The media type of a Content-Type header without its parameters, lower case."""
    return (header or "").split(";", 1)[0].strip().lower()


def is_xml(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return kind.endswith("xml") or kind.endswith("+xml")


def parse_body(body: bytes, content_type: str | None) -> Content | None:
    """Parse a request or response body; None when there is no body."""
    if not body.strip():
        return None
    if is_xml(content_type) or (not media_type(content_type) and body.lstrip()[:1] == b"<"):
        return _parse_xml(body)
    try:
        return Content(load_json(body))
    except orjson.JSONDecodeError as exc:
        if body.lstrip()[:1] == b"<":
            return _parse_xml(body)
        raise BodyError(f"the body is not JSON: {exc}") from exc


def _parse_xml(body: bytes) -> Content:
    try:
        data = parse_xml(body)
    except FhirError as exc:
        raise BodyError(f"the body is not a FHIR XML resource: {exc.diagnostics}") from exc
    return Content(data, body)


def load_file(path: Path) -> Content:
    """Read a JSON or XML file (by suffix, else by its first byte)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BodyError(f"cannot read {path}: {exc.strerror or exc}") from exc
    hint = FHIR_XML if path.suffix.lower() == ".xml" else None
    if path.suffix.lower() == ".json":
        hint = FHIR_JSON
    content = parse_body(raw, hint)
    if content is None:
        raise BodyError(f"{path} is empty")
    return content


def serialize(data: Any, mime: str | None) -> bytes:
    """Serialize a body in the requested format (XML only for FHIR resources)."""
    if is_xml(mime):
        if not (isinstance(data, dict) and "resourceType" in data):
            raise BodyError("only a FHIR resource can be sent as XML")
        try:
            return render_xml(data)
        except FhirError as exc:
            raise BodyError(f"cannot render the resource as XML: {exc.diagnostics}") from exc
    return dump(data)
