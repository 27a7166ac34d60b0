"""Parsing a search request into a `SearchPlan` (http://hl7.org/fhir/R4/search.html).

Lenient by default: an unknown or unsupported parameter is ignored and left out of the
`self` link; with `Prefer: handling=strict` it is a 400 naming the parameter. Malformed
values, unknown modifiers and chains through non-reference parameters are 400 either way.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import orjson

from fhir_server.errors import BadRequest
from fhir_server.resource_types import RESOURCE_TYPES, is_resource_type
from fhir_server.search.plan import (
    ANY_SOURCE,
    MIDDLE,
    Condition,
    Cursor,
    IncludeSpec,
    SearchPlan,
    SortKey,
    TotalMode,
)
from fhir_server.search.query_conditions import (
    ConditionContext,
    Unsupported,
    parse_condition,
    searchable,
)
from fhir_server.search.registry import SearchRegistry
from fhir_server.text import clamped_int, is_ascii_digits

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
# Parameters that shape the result rather than select resources.
CONTROL_PARAMS = frozenset(
    {
        "_count",
        "_total",
        "_summary",
        "_elements",
        "_format",
        "_pretty",
        "_sort",
        "_include",
        "_revinclude",
        "_include:iterate",
        "_revinclude:iterate",
        "_type",
        CURSOR_PARAM,
    }
)
_TOTALS = ("none", "estimate", "accurate")
_SORT_FIELDS = {
    "string": "value",
    "token": "code",
    "reference": "target_id",
    "date": "low",
    # a number's entry is the range its precision implies ([0.55, 0.65) for 0.6): its
    # value is the middle, and ordering by the low end put 1 ([0.5, 1.5)) before 0.6
    "number": MIDDLE,
    "quantity": MIDDLE,
    "uri": "value",
}


@dataclass(frozen=True, slots=True)
class QueryOptions:
    default_count: int
    max_count: int
    strict: bool
    base_url: str = ""
    default_total: TotalMode = "estimate"


def parse_search(
    resource_type: str | None,
    params: Sequence[tuple[str, str]],
    registry: SearchRegistry,
    options: QueryOptions,
) -> SearchPlan:
    """The plan of a type search (`resource_type`) or system search (None, with `_type`)."""
    types = _types(params) if resource_type is None else ()
    rtype = resource_type if resource_type is not None else (types[0] if len(types) == 1 else None)
    ctx = ConditionContext(registry, options.base_url)
    _within_limits(params)
    conditions: list[Condition] = []
    applied: list[tuple[str, str]] = []
    for name, value in params:
        if name in CONTROL_PARAMS:
            continue
        condition = _condition(rtype, types, name, value, ctx, options.strict)
        if condition is not None:
            conditions.append(condition)
            applied.append((name, value))
    count = _count(params, options)
    return SearchPlan(
        resource_type=rtype,
        conditions=tuple(conditions),
        count=count,
        # `estimate` counts exactly up to two pages' worth and then stops, so that its cost
        # follows the page; past that the Bundle has no total (ask `_total=accurate`)
        estimate_limit=max(40, 2 * count),
        cursor=decode_cursor(_last(params, CURSOR_PARAM)),
        total=_total(params, options, count),
        applied_params=tuple(applied),
        types=types if rtype is None else (),
        sort=_sort(rtype, params, registry),
        includes=_includes(rtype, params, registry),
    )


# Bounds on one search, each far past what a client needs: hundreds of ANDed parameters
# overflowed SQLite's expression depth (a 500), and thousands of ORed values took seconds.
MAX_PARAMETERS = 64
MAX_VALUES_IN_ALL = 500
MAX_SORT_KEYS = 8


def _within_limits(params: Sequence[tuple[str, str]]) -> None:
    searched = [(n, v) for n, v in params if n not in CONTROL_PARAMS or "include" in n]
    if len(searched) > MAX_PARAMETERS:
        raise BadRequest(f"A search takes at most {MAX_PARAMETERS} parameters")
    if sum(value.count(",") + 1 for _, value in searched) > MAX_VALUES_IN_ALL:
        raise BadRequest(f"A search takes at most {MAX_VALUES_IN_ALL} values in all")
    sort = _last(params, "_sort")
    if sort and sort.count(",") >= MAX_SORT_KEYS:
        raise BadRequest(f"_sort takes at most {MAX_SORT_KEYS} keys", ("_sort",))


def _types(params: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    found: list[str] = []
    for name, value in params:
        if name == "_type":
            for rtype in value.split(","):
                if not is_resource_type(rtype.strip()):
                    raise BadRequest(
                        f"_type names an unknown resource type '{rtype[:80]}'", ("_type",)
                    )
                found.append(rtype.strip())
    return tuple(dict.fromkeys(found))


def _condition(
    rtype: str | None,
    types: tuple[str, ...],
    name: str,
    value: str,
    ctx: ConditionContext,
    strict: bool,
) -> Condition | None:
    try:
        if rtype is not None:
            return parse_condition(rtype, name, value, ctx)
        # A system search over several types: the parameter must mean the same on each.
        parsed = {parse_condition(t, name, value, ctx) for t in (types or ("Resource",))}
        if len(parsed) != 1:
            raise Unsupported(f"'{name[:80]}' differs between the types searched")
        return parsed.pop()
    except Unsupported as exc:
        if strict:
            raise BadRequest(str(exc), (name[:80],)) from exc
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
    if not is_ascii_digits(text):
        raise BadRequest(f"_count must be a non-negative integer, not '{text[:40]}'", ("_count",))
    return clamped_int(text, options.max_count)


def _total(params: Sequence[tuple[str, str]], options: QueryOptions, count: int) -> TotalMode:
    text = _last(params, "_total")
    if text is None:
        # search.html#count: `_count=0` is treated as `_summary=count`, which reports the
        # number of matches
        counting = _last(params, "_summary") == "count" or count == 0
        return "accurate" if counting else options.default_total
    if text not in _TOTALS:
        raise BadRequest(
            f"_total must be none, estimate or accurate, not '{text[:40]}'", ("_total",)
        )
    return text  # type: ignore[return-value]


def _sort(
    rtype: str | None, params: Sequence[tuple[str, str]], registry: SearchRegistry
) -> tuple[SortKey, ...]:
    text = _last(params, "_sort")
    if not text:
        return ()
    keys = []
    for item in text.split(","):
        descending = item.startswith("-")
        code = item.removeprefix("-").strip()
        if code in ("_id", "_lastUpdated"):
            field = "id" if code == "_id" else "last_updated_us"
            keys.append(SortKey(code, "resource", field, descending))
            continue
        definition = registry.get(rtype, code) if rtype else None
        if definition is None or definition.type not in _SORT_FIELDS or not definition.expression:
            raise BadRequest(
                f"Cannot sort by '{code[:80]}': not a sortable parameter of {rtype or 'all types'}",
                ("_sort",),
            )
        kind = definition.type
        keys.append(SortKey(code, kind, _SORT_FIELDS[kind], descending))  # type: ignore[arg-type]
    return tuple(keys)


def _includes(
    rtype: str | None, params: Sequence[tuple[str, str]], registry: SearchRegistry
) -> tuple[IncludeSpec, ...]:
    specs: list[IncludeSpec] = []
    for name, value in params:
        base, _, flag = name.partition(":")
        if base not in ("_include", "_revinclude"):
            continue
        if flag not in ("", "iterate", "recurse"):
            raise BadRequest(f"Unknown modifier ':{flag[:40]}' on {base}", (name[:80],))
        reverse, iterate = base == "_revinclude", bool(flag)
        specs.extend(_include_specs(rtype, value, registry, reverse, iterate, name))
    return tuple(specs)


def _include_specs(
    rtype: str | None, value: str, registry: SearchRegistry, reverse: bool, iterate: bool, name: str
) -> list[IncludeSpec]:
    if value == "*":
        if reverse:
            raise BadRequest("_revinclude=* is not supported: name Source:param", (name[:80],))
        if iterate:  # every reference of whatever was included, round after round
            return [IncludeSpec(ANY_SOURCE, "*", None, reverse, iterate)]
        sources = [rtype] if rtype else []
        return [
            IncludeSpec(s, d.code, None, reverse, iterate)
            for s in sources
            for d in registry.for_type(s)
            if d.type == "reference" and d.expression
        ]
    parts = value.split(":")
    if len(parts) not in (2, 3) or not is_resource_type(parts[0]):
        raise BadRequest(
            f"{name} must read SourceType:param[:TargetType], not '{value[:80]}'", (name[:80],)
        )
    source, code = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if target is not None and target not in RESOURCE_TYPES:
        raise BadRequest(f"'{target[:80]}' is not a resource type", (name[:80],))
    if code == "*":
        return [
            IncludeSpec(source, d.code, target, reverse, iterate)
            for d in registry.for_type(source)
            if d.type == "reference" and d.expression
        ]
    definition = registry.get(source, code)
    if definition is None or definition.type != "reference":
        raise BadRequest(f"'{code[:80]}' is not a reference parameter of {source}", (name[:80],))
    return [IncludeSpec(source, code, target, reverse, iterate)]


def expand_any_source(
    specs: Sequence[IncludeSpec], types: Iterable[str], registry: SearchRegistry
) -> list[IncludeSpec]:
    """`specs` with each ANY_SOURCE spec replaced by the reference parameters of `types`
    (the types of the resources an include round starts from)."""
    expanded: list[IncludeSpec] = []
    ordered = sorted(set(types))
    for spec in specs:
        if spec.source_type != ANY_SOURCE:
            expanded.append(spec)
            continue
        expanded += [
            replace(spec, source_type=t, param=d.code)
            for t in ordered
            for d in registry.for_type(t)
            if d.type == "reference" and d.expression
        ]
    return list(dict.fromkeys(expanded))


def encode_cursor(cursor: Cursor) -> str:
    """An opaque page token: clients pass it back, never build it."""
    values = [_encoded_value(v) for v in cursor.sort_values]
    fields: dict[str, object] = {"p": cursor.position, "d": cursor.direction[0], "v": values}
    if cursor.second_phase:
        fields["s"] = 1
    if cursor.snapshot is not None:
        fields["t"] = cursor.snapshot
    raw = orjson.dumps(fields)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# A sort value past the largest double (the middle of two huge quantities) is infinite,
# which JSON cannot hold: written as {"f": "inf"} (no other value is an object).
_INFINITE = {"inf": math.inf, "-inf": -math.inf}


def _encoded_value(value: str | int | float | None) -> object:
    if isinstance(value, float) and math.isinf(value):
        return {"f": "inf" if value > 0 else "-inf"}
    return value


def _decoded_value(value: object) -> object:
    if isinstance(value, dict) and set(value) == {"f"} and value["f"] in _INFINITE:
        return _INFINITE[value["f"]]
    return value


def decode_cursor(token: str | None) -> Cursor | None:
    if token is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        position, direction, values = int(data["p"]), data["d"], data.get("v", [])
        if isinstance(values, list):
            values = [_decoded_value(v) for v in values]
        second_phase = data.get("s", 0) == 1
        snapshot = data.get("t")
        if snapshot is not None and not (type(snapshot) is int and 0 <= snapshot < 2**63):
            raise ValueError("bad cursor")
        if direction not in ("a", "b") or not isinstance(values, list):
            raise ValueError("bad cursor")
        if not 0 <= position < 2**63 or len(values) > 16:
            raise ValueError("bad cursor")
        if any(isinstance(v, int) and not -(2**63) <= v < 2**63 for v in values):
            raise ValueError("bad cursor")
        if not all(v is None or isinstance(v, str | int | float) for v in values):
            raise ValueError("bad cursor")
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        raise BadRequest(
            "The paging cursor is not one this server issued", (CURSOR_PARAM,)
        ) from exc
    way: Literal["after", "before"] = "after" if direction == "a" else "before"
    return Cursor(position, way, tuple(values), second_phase, snapshot)


_SPECIAL = (
    ("_id", "token", "http://hl7.org/fhir/SearchParameter/Resource-id"),
    ("_lastUpdated", "date", "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated"),
)


def supported_parameters(
    resource_type: str, registry: SearchRegistry
) -> list[tuple[str, str, str]]:
    """(code, type, definition URL) of every search parameter that works on
    `resource_type`: the CapabilityStatement is built from this, so it cannot claim a
    parameter the parser would not turn into a condition."""
    found = list(_SPECIAL)
    for definition in registry.for_type(resource_type):
        if definition.code in ("_id", "_lastUpdated"):
            continue
        if searchable(definition, registry) or (definition.code, resource_type) == (
            "near",
            "Location",
        ):
            found.append((definition.code, definition.type, definition.url))
    return sorted(set(found))
