"""JSON bytes in and out: parsing request bodies safely, stamping the server's `meta`.

The server keeps resources as the JSON bytes the client sent (key order, arrays and
extensions untouched) and only replaces `meta.versionId` and `meta.lastUpdated`.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhir_server.errors import BadRequest

__all__ = ["dump", "dump_pretty", "load_object", "nesting_depth", "with_server_meta"]


def load_object(raw: bytes, *, max_depth: int, what: str = "The body") -> dict[str, Any]:
    """Parse `raw` as a JSON object no deeper than `max_depth`, or raise BadRequest."""
    if not raw.strip():
        raise BadRequest(f"{what} is empty; a FHIR resource was expected")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc.msg} at character {exc.pos}") from exc
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object, not a {type(value).__name__}")
    depth = nesting_depth(value, limit=max_depth)
    if depth > max_depth:
        raise BadRequest(f"{what} is nested deeper than {max_depth} levels", ())
    return value


def nesting_depth(value: object, *, limit: int) -> int:
    """Depth of nested objects/arrays, counting stops just past `limit` (no recursion)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values() if _is_container(child))
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node if _is_container(child))
    return deepest


def _is_container(value: object) -> bool:
    return isinstance(value, dict | list)


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
