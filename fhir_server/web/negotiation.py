"""Content negotiation: `_format`, `Accept` and `Content-Type` (http://hl7.org/fhir/R4/http.html#mime-type).

JSON is served as `application/fhir+json` (or `application/json` when that is what the
client asked for), XML as `application/fhir+xml` (or `application/xml` for `application/xml`
and `text/xml`); `_format` accepts `json`, `xml` and those MIME types, and wins over `Accept`,
whose entries are weighed by their `q`. Anything else is refused: 406 for a response format,
415 for a body. XML bodies are read into the JSON form, so they take the JSON path.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import NotAcceptable, UnsupportedMediaType
from fhir_server.resource_json import load_object
from fhir_server.xml_format import parse_xml

__all__ = [
    "FHIR_JSON",
    "FHIR_XML",
    "is_xml",
    "read_body",
    "request_body_is_json",
    "response_media_type",
]

FHIR_JSON = "application/fhir+json"
PLAIN_JSON = "application/json"
FHIR_XML = "application/fhir+xml"
PLAIN_XML = "application/xml"
_FORMAT_ALIASES = {
    "json": FHIR_JSON,
    FHIR_JSON: FHIR_JSON,
    PLAIN_JSON: PLAIN_JSON,
    "text/json": PLAIN_JSON,
    "xml": FHIR_XML,
    FHIR_XML: FHIR_XML,
    PLAIN_XML: PLAIN_XML,
    "text/xml": PLAIN_XML,
}
_ACCEPTABLE_WILDCARDS = ("*/*", "application/*")
_JSON_BODIES = (FHIR_JSON, PLAIN_JSON, "text/json")
_XML_BODIES = (FHIR_XML, PLAIN_XML, "text/xml")


# The `fhirVersion` MIME parameter values of R4 (http.html#version-parameter).
_R4_VERSIONS = ("4.0", "4.0.0", "4.0.1")


def _parameters(parts: list[str]) -> dict[str, str]:
    found = {}
    for part in parts:
        name, _, value = part.partition("=")
        found[name.strip().lower()] = value.strip().strip('"')
    return found


def _other_fhir_version(parameters: dict[str, str]) -> bool:
    version = parameters.get("fhirversion")
    return version is not None and version not in _R4_VERSIONS


def response_media_type(format_param: str | None, accept: str | None) -> str:
    """The media type to answer in, or NotAcceptable."""
    if format_param is not None:
        # in a query string a `+` is a space: `_format=application/fhir+json` arrives so
        name, *parts = format_param.split(";")
        media = _FORMAT_ALIASES.get(name.strip().lower().replace(" ", "+"))
        if media is None or _other_fhir_version(_parameters(parts)):
            raise NotAcceptable(
                f"_format '{format_param[:60]}' is not supported; use json or xml (FHIR 4.0)"
            )
        return media
    if not accept:
        return FHIR_JSON
    for media in _by_preference(accept):
        if media in _ACCEPTABLE_WILDCARDS or media == "":
            return FHIR_JSON
        if media in _FORMAT_ALIASES and "/" in media:
            return _FORMAT_ALIASES[media]
    raise NotAcceptable(
        f"Cannot answer in '{accept[:80]}'; this server speaks application/fhir+json "
        "and application/fhir+xml"
    )


def _by_preference(accept: str) -> list[str]:
    """The media ranges of an Accept header, most preferred first (RFC 9110 12.5.1).

    Equal weights keep the client's order; `q=0` means "not acceptable" and is dropped, and
    so is a range asking for a FHIR version other than R4.
    """
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept.split(",")):
        media, *parts = (part.strip() for part in item.split(";"))
        parameters = _parameters(parts)
        try:
            weight = float(parameters.get("q", "1"))
        except ValueError:
            weight = 0.0  # an unreadable weight is no preference to honour
        if _other_fhir_version(parameters):
            weight = 0.0  # another FHIR version: not something this server can answer in
        if weight > 0:
            weighted.append((-weight, position, media.lower()))
    return [media for _, _, media in sorted(weighted)]


def is_xml(media: str) -> bool:
    """Whether a negotiated response media type is one of the XML ones."""
    return media in (FHIR_XML, PLAIN_XML)


def read_body(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """A request body in its JSON form: JSON as is, XML converted; 415 for anything else."""
    _check_body_media(content_type)
    if _media(content_type) in _XML_BODIES:
        return parse_xml(raw) if raw.strip() else load_object(raw)
    return load_object(raw)


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def request_body_is_json(content_type: str | None) -> None:
    """Accept a JSON body (or none declared); refuse any other media type with 415."""
    if content_type is not None and _media(content_type) not in _JSON_BODIES:
        raise UnsupportedMediaType(
            f"Content-Type '{content_type[:80]}' is not supported here; send application/fhir+json"
        )


def _check_body_media(content_type: str | None) -> None:
    """Accept a JSON or XML body (none declared means JSON), in UTF-8 (FHIR's only
    encoding) and of FHIR R4; refuse anything else with 415."""
    if content_type is None:
        return
    media = _media(content_type)
    parameters = _parameters(content_type.split(";")[1:])
    charset = parameters.get("charset", "utf-8").lower()
    if (
        (media not in _JSON_BODIES and media not in _XML_BODIES)
        or charset not in ("utf-8", "utf8", "us-ascii")  # ASCII is UTF-8 too
        or _other_fhir_version(parameters)
    ):
        raise UnsupportedMediaType(
            f"Content-Type '{content_type[:80]}' is not supported; send application/fhir+json "
            "or application/fhir+xml, in UTF-8, of FHIR 4.0"
        )
