"""JSON bytes in and out: parsing request bodies safely, stamping the server's `meta`.

The server keeps resources as the JSON bytes the client sent (key order, arrays and
extensions untouched) and only replaces `meta.versionId` and `meta.lastUpdated`. Numbers
keep their text too: a FHIR decimal's precision is part of its value (1.50 is not 1.5,
datatypes.html#decimal), which a float would lose.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from fhir_server.errors import BadRequest

__all__ = [
    "JsonDecimal",
    "describe",
    "dump",
    "dump_pretty",
    "load_json",
    "load_object",
    "with_server_meta",
]

_INT64 = 2**63


class JsonDecimal(float):
    """A JSON number that a float would write back differently: its value for computing,
    its text (`repr`, `str`) for writing and for the precision search ranges use."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> JsonDecimal:
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


def _integer(text: str) -> int | JsonDecimal:
    if len(text.removeprefix("-")) > 19:  # past int64; and Python reads no more than 4,300 digits
        return JsonDecimal(text)
    value = int(text)
    return value if -_INT64 <= value < _INT64 else JsonDecimal(text)


def _has_inexact_number(value: Any) -> bool:
    """Whether orjson's result holds a number whose text a float or an int64 may not
    reproduce: any float (a fraction or an exponent: 1.50, 1e2; orjson also turns integers
    past 64 bits into floats) or an integer outside int64. Walking the parsed value costs
    about a third of scanning the bytes with a regular expression, and sees only numbers,
    never digits inside strings."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is float or (kind is int and not -_INT64 <= item < _INT64):
            return True
    return False


def load_json(raw: bytes | str) -> Any:
    """Parse JSON (orjson's strict rules: UTF-8, no NaN, no lone surrogates), keeping the
    text of every number a float could change as a `JsonDecimal`. Raises
    `orjson.JSONDecodeError`."""
    value = orjson.loads(raw)
    if _has_inexact_number(value):
        data = raw.encode() if isinstance(raw, str) else raw
        try:
            value = json.loads(data, parse_float=JsonDecimal, parse_int=_integer)
        except RecursionError:  # json recurses; orjson stopped at 1,024 levels above
            raise orjson.JSONDecodeError("nested too deeply", data.decode(), 0) from None
    return value


def load_object(raw: bytes, *, what: str = "The body") -> dict[str, Any]:
    """Parse `raw` as a JSON object, or raise BadRequest.

    Nesting depth is not checked here: orjson refuses more than 1024 levels, and the R4
    validator, which every stored resource passes through, walks iteratively and reports
    anything deeper than the configured limit as one clear issue.
    """
    if not raw or raw.isspace():
        raise BadRequest(f"{what} is empty; a FHIR resource was expected")
    try:
        value = load_json(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc.msg} at character {exc.pos}") from exc
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object, not {describe(value)}")
    return value


def describe(value: object) -> str:
    """The JSON type of `value`, with its article, for diagnostics."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


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


def _number_text(value: object) -> orjson.Fragment:
    if isinstance(value, JsonDecimal):
        return orjson.Fragment(value.text)
    raise TypeError(f"{type(value).__name__} is not JSON")


def dump(value: object) -> bytes:
    """Compact JSON bytes."""
    return orjson.dumps(value, default=_number_text)


def dump_pretty(value: object) -> bytes:
    """Indented JSON bytes, for `_pretty=true`."""
    return orjson.dumps(value, default=_number_text, option=orjson.OPT_INDENT_2)
