"""Parsing a search request into a `SearchPlan` (http://hl7.org/fhir/R4/search.html).

Lenient by default: an unknown or unsupported parameter is ignored and left out of the
`self` link; with `Prefer: handling=strict` it is a 400 naming the parameter.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from fhir_server.errors import BadRequest
from fhir_server.search.plan import (
    Condition,
    Cursor,
    IdCondition,
    LastUpdatedCondition,
    SearchPlan,
    TokenCondition,
    TotalMode,
)
from fhir_server.search.registry import SearchRegistry
from fhir_server.search.values import date_match, split_escaped, token_match, unescape

__all__ = [
    "CONTROL_PARAMS",
    "CURSOR_PARAM",
    "QueryOptions",
    "decode_cursor",
    "encode_cursor",
    "parse_search",
    "supported_parameters",
]

CURSOR_PARAM = "_cursor"
# Parameters that shape the result rather than select resources; handled elsewhere.
CONTROL_PARAMS = frozenset(
    {"_count", "_total", "_summary", "_elements", "_format", "_pretty", CURSOR_PARAM}
)
_TOTALS = ("none", "estimate", "accurate")


@dataclass(frozen=True, slots=True)
class QueryOptions:
    default_count: int
    max_count: int
    strict: bool


def parse_search(
    resource_type: str,
    params: Sequence[tuple[str, str]],
    registry: SearchRegistry,
    options: QueryOptions,
) -> SearchPlan:
    conditions: list[Condition] = []
    applied: list[tuple[str, str]] = []
    for name, value in params:
        if name in CONTROL_PARAMS:
            continue
        condition = _condition(resource_type, name, value, registry, options.strict)
        if condition is not None:
            conditions.append(condition)
            applied.append((name, value))
    return SearchPlan(
        resource_type=resource_type,
        conditions=tuple(conditions),
        count=_count(params, options),
        cursor=decode_cursor(_last(params, CURSOR_PARAM)),
        total=_total(params),
        applied_params=tuple(applied),
    )


def _condition(
    resource_type: str, name: str, value: str, registry: SearchRegistry, strict: bool
) -> Condition | None:
    code, _, modifier = name.partition(":")
    if code == "_id" and not modifier:
        return IdCondition(tuple(unescape(v) for v in split_escaped(value, ",") if v))
    if code == "_lastUpdated" and not modifier:
        return LastUpdatedCondition(tuple(date_match(code, v) for v in split_escaped(value, ",")))
    definition = registry.get(resource_type, code)
    if definition is not None and definition.type == "token" and modifier in ("", "not"):
        values = tuple(token_match(v) for v in split_escaped(value, ","))
        return TokenCondition(code, values, negated=modifier == "not")
    if strict:
        what = f"modifier ':{modifier}' of " if definition is not None and modifier else ""
        raise BadRequest(
            f"The search {what}parameter '{name[:80]}' is not supported for {resource_type}",
            (name[:80],),
        )
    return None


def _last(params: Sequence[tuple[str, str]], name: str) -> str | None:
    found = None
    for key, value in params:
        if key == name:
            found = value
    return found


def _count(params: Sequence[tuple[str, str]], options: QueryOptions) -> int:
    text = _last(params, "_count")
    if text is None:
        return options.default_count
    if not text.isdigit():
        raise BadRequest(f"_count must be a non-negative integer, not '{text[:40]}'", ("_count",))
    return min(int(text), options.max_count)


def _total(params: Sequence[tuple[str, str]]) -> TotalMode:
    text = _last(params, "_total") or "accurate"
    if text not in _TOTALS:
        raise BadRequest(
            f"_total must be none, estimate or accurate, not '{text[:40]}'", ("_total",)
        )
    return text  # type: ignore[return-value]


def encode_cursor(cursor: Cursor) -> str:
    """An opaque page token: clients pass it back, never build it."""
    raw = orjson.dumps({"p": cursor.position, "d": cursor.direction[0]})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str | None) -> Cursor | None:
    if token is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        position, direction = int(data["p"]), data["d"]
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        raise BadRequest(
            "The paging cursor is not one this server issued", (CURSOR_PARAM,)
        ) from exc
    if direction not in ("a", "b"):
        raise BadRequest("The paging cursor is not one this server issued", (CURSOR_PARAM,))
    return Cursor(position, "after" if direction == "a" else "before")


# Parameter types this parser turns into conditions; the CapabilityStatement is built from
# `supported_parameters`, so it can never claim a parameter the parser would ignore.
SUPPORTED_TYPES = frozenset({"token"})
_SPECIAL = (
    ("_id", "token", "http://hl7.org/fhir/SearchParameter/Resource-id"),
    ("_lastUpdated", "date", "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated"),
)


def supported_parameters(
    resource_type: str, registry: SearchRegistry
) -> list[tuple[str, str, str]]:
    """(code, type, definition URL) of every search parameter that works on `resource_type`."""
    found = list(_SPECIAL)
    for definition in registry.for_type(resource_type):
        if definition.code.startswith("_"):
            continue
        if definition.type in SUPPORTED_TYPES:
            found.append((definition.code, definition.type, definition.url))
    return sorted(found)
