"""JSON bytes in and out: parsing request bodies safely, stamping the server's `meta`.

The server keeps resources as the JSON bytes the client sent (key order, arrays and
extensions untouched) and only replaces `meta.versionId` and `meta.lastUpdated`.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhir_server.errors import BadRequest

__all__ = ["dump", "dump_pretty", "load_object", "with_server_meta"]


def load_object(raw: bytes, *, what: str = "The body") -> dict[str, Any]:
    """Parse `raw` as a JSON object, or raise BadRequest.

    Nesting depth is not checked here: orjson refuses more than 1024 levels, and the R4
    validator, which every stored resource passes through, walks iteratively and reports
    anything deeper than the configured limit as one clear issue.
    """
    if not raw or raw.isspace():
        raise BadRequest(f"{what} is empty; a FHIR resource was expected")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc.msg} at character {exc.pos}") from exc
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object, not a {type(value).__name__}")
    return value


def with_server_meta(
    resource: dict[str, Any], *, resource_id: str, version_id: str, last_updated: str
) -> dict[str, Any]:
    """A copy of `resource` with the server's id, versionId and lastUpdated.

    Client-supplied meta (profile, security, tag, source) is kept; key order is kept; a
    resource without meta gets it right after `id`, where FHIR's own examples put it.
    """
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = version_id
    meta["lastUpdated"] = last_updated
    stamped: dict[str, Any] = {}
    if "resourceType" in resource:
        stamped["resourceType"] = resource["resourceType"]
    stamped["id"] = resource_id
    for key, value in resource.items():
        if key in ("resourceType", "id"):
            continue
        stamped[key] = meta if key == "meta" else value
    if "meta" not in resource:
        stamped = _insert_after(stamped, "id", "meta", meta)
    return stamped


def _insert_after(obj: dict[str, Any], anchor: str, key: str, value: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for existing, existing_value in obj.items():
        result[existing] = existing_value
        if existing == anchor:
            result[key] = value
    return result


def dump(value: object) -> bytes:
    """Compact JSON bytes."""
    return orjson.dumps(value)


def dump_pretty(value: object) -> bytes:
    """Indented JSON bytes, for `_pretty=true`."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2)
