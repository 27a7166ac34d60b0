"""Content negotiation: `_format`, `Accept` and `Content-Type` (http://hl7.org/fhir/R4/http.html#mime-type).

JSON is served as `application/fhir+json` (or `application/json` when that is what the
client asked for). Anything else is refused: 406 for a response format, 415 for a body.
"""

from __future__ import annotations

from fhir_server.errors import NotAcceptable, UnsupportedMediaType

__all__ = ["FHIR_JSON", "request_body_is_json", "response_media_type"]

FHIR_JSON = "application/fhir+json"
PLAIN_JSON = "application/json"
_FORMAT_ALIASES = {
    "json": FHIR_JSON,
    FHIR_JSON: FHIR_JSON,
    PLAIN_JSON: PLAIN_JSON,
    "text/json": PLAIN_JSON,
}
_ACCEPTABLE_WILDCARDS = ("*/*", "application/*")


def response_media_type(format_param: str | None, accept: str | None) -> str:
    """The media type to answer in, or NotAcceptable."""
    if format_param is not None:
        media = _FORMAT_ALIASES.get(format_param.split(";")[0].strip().lower())
        if media is None:
            raise NotAcceptable(f"_format '{format_param[:60]}' is not supported; use json")
        return media
    if not accept:
        return FHIR_JSON
    for item in accept.split(","):
        media = item.split(";")[0].strip().lower()
        if media == FHIR_JSON or media in _ACCEPTABLE_WILDCARDS or media == "":
            return FHIR_JSON
        if media in (PLAIN_JSON, "text/json"):
            return PLAIN_JSON
    raise NotAcceptable(
        f"Cannot answer in '{accept[:80]}'; this server speaks application/fhir+json"
    )


def request_body_is_json(content_type: str | None) -> None:
    """Accept a JSON body (or none declared); refuse any other media type with 415."""
    if content_type is None:
        return
    media = content_type.split(";")[0].strip().lower()
    if media not in (FHIR_JSON, PLAIN_JSON, "text/json"):
        raise UnsupportedMediaType(
            f"Content-Type '{content_type[:80]}' is not supported; send application/fhir+json"
        )
