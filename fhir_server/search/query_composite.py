"""Composite search values (search.html#composite): `code-value-quantity=
http://loinc.org|8480-6$gt100` matches an Observation whose *same* element has that code
and a value above 100.

Each `$`-separated part is parsed by its component parameter's type into tests on the
fields of the component key the indexer stored (layouts in `entries`): tokens compare
system and code, strings the folded value's prefix, references and uris their parts,
and numbers, quantities and dates their [low, high] range, encoded so that string order
is numeric order.
"""

from __future__ import annotations

from fhir_server.errors import BadRequest
from fhir_server.instants import parse_fhir_datetime_range
from fhir_server.search.entries import float_key, int_key
from fhir_server.search.normalize import decimal_range, fold, parse_reference
from fhir_server.search.plan import CompositeCondition, FieldTest
from fhir_server.search.registry import SearchParameterDef, SearchRegistry
from fhir_server.search.ucum import canonical_unit
from fhir_server.search.values import split_escaped, split_prefix, token_match, unescape

__all__ = ["SUPPORTED_COMPONENT_TYPES", "component_types", "composite_condition"]

SUPPORTED_COMPONENT_TYPES = frozenset(
    {"token", "quantity", "number", "date", "string", "reference", "uri"}
)
UCUM = "http://unitsofmeasure.org"
TOP = "\U0010ffff"


def component_types(definition: SearchParameterDef, registry: SearchRegistry) -> list[str] | None:
    """The parameter types of a composite's components, or None if one is unknown."""
    found: list[str] = []
    for component in definition.components:
        target = registry.by_url(component.definition)
        if target is None or target.type not in SUPPORTED_COMPONENT_TYPES:
            return None
        found.append(target.type)
    return found


def composite_condition(
    definition: SearchParameterDef, registry: SearchRegistry, values: list[str], name: str
) -> CompositeCondition:
    types = component_types(definition, registry)
    if types is None:
        raise BadRequest(f"The composite parameter '{definition.code}' is not supported", (name,))
    parsed = []
    for value in values:
        parts = split_escaped(value, "$")
        if len(parts) != len(types):
            raise BadRequest(
                f"'{value[:80]}' must have {len(types)} parts separated by '$' for {name}",
                (name,),
            )
        tests: list[FieldTest] = []
        for index, (kind, part) in enumerate(zip(types, parts, strict=True)):
            tests += _component(index, kind, part, name)
        parsed.append(tuple(tests))
    return CompositeCondition(definition.code, tuple(parsed))


def _component(i: int, kind: str, text: str, name: str) -> list[FieldTest]:
    if kind == "token":
        match = token_match(text)
        tests = [] if match.code is None else [FieldTest(i, 1, "=", match.code)]
        if match.system_given:
            tests.append(FieldTest(i, 0, "=", match.system or ""))
        return tests
    if kind == "string":
        prefix = fold(unescape(text))
        return [FieldTest(i, 0, ">=", prefix), FieldTest(i, 0, "<", prefix + TOP)]
    if kind == "uri":
        return [FieldTest(i, 0, "=", unescape(text))]
    if kind == "reference":
        parsed = parse_reference(unescape(text))
        if parsed is None:
            raise BadRequest(f"'{text[:80]}' is not a reference for {name}", (name,))
        fields = (parsed.target_type, parsed.target_id, parsed.url, parsed.version)
        return [FieldTest(i, f, "=", v) for f, v in enumerate(fields) if v is not None]
    if kind == "date":
        return _date(i, text, name)
    return _number(i, kind, text, name)


def _point_tests(
    i: int, field: int, prefix: str, value: float, low: float, high: float
) -> list[FieldTest]:
    """The prefix on the stated value (field `field`), as plain number search does
    (search.html#number): `eq` keeps values inside the search value's precision range,
    the ordering prefixes compare with the search value itself."""
    if prefix == "eq":
        return [
            FieldTest(i, field, ">=", float_key(low)),
            FieldTest(i, field, "<", float_key(high)),
        ]
    if prefix in ("gt", "sa"):
        return [FieldTest(i, field, ">", float_key(value))]
    if prefix in ("lt", "eb"):
        return [FieldTest(i, field, "<", float_key(value))]
    if prefix == "ge":
        return [FieldTest(i, field, ">=", float_key(value))]
    if prefix == "le":
        return [FieldTest(i, field, "<=", float_key(value))]
    if prefix == "ap":
        gap = abs(value) * 0.1
        return [
            FieldTest(i, field, ">=", float_key(value - gap)),
            FieldTest(i, field, "<=", float_key(value + gap)),
        ]
    raise BadRequest(f"The prefix '{prefix}' is not supported inside a composite value")


def _number(i: int, kind: str, text: str, name: str) -> list[FieldTest]:
    parts = split_escaped(text, "|") if kind == "quantity" else [text]
    if len(parts) not in (1, 3):
        raise BadRequest(f"'{text[:80]}' is not a valid quantity for {name}", (name,))
    prefix, number = split_prefix(parts[0])
    found = decimal_range(number)
    if found is None:
        raise BadRequest(f"'{text[:80]}' is not a valid number for {name}", (name,))
    value, low, high = float(number), found[0], found[1]
    system = unescape(parts[1]) if len(parts) == 3 else ""
    unit = unescape(parts[2]) if len(parts) == 3 else ""
    canonical = canonical_unit(unit) if system == UCUM and unit else None
    if canonical is not None:
        value, low, high = (v * canonical.factor + canonical.offset for v in (value, low, high))
        return [*_point_tests(i, 8, prefix, value, low, high), FieldTest(i, 6, "=", canonical.code)]
    # the stated value: field 7 of a quantity key, field 2 of a number key
    tests = _point_tests(i, 7 if kind == "quantity" else 2, prefix, value, low, high)
    if system:
        tests.append(FieldTest(i, 2, "=", system))
    if unit:
        tests.append(FieldTest(i, 3, "=", unit))
    return tests


def _date(i: int, text: str, name: str) -> list[FieldTest]:
    prefix, value = split_prefix(text)
    found = parse_fhir_datetime_range(value)
    if found is None:
        raise BadRequest(f"'{text[:80]}' is not a valid date for {name}", (name,))
    low, high = int_key(found[0]), int_key(found[1])
    if prefix == "eq":
        return [FieldTest(i, 0, ">=", low), FieldTest(i, 1, "<=", high)]
    if prefix == "gt":
        return [FieldTest(i, 1, ">", high)]
    if prefix == "lt":
        return [FieldTest(i, 0, "<", low)]
    if prefix == "sa":  # starts after: the whole range is past the search range
        return [FieldTest(i, 0, ">", high)]
    if prefix == "eb":  # ends before
        return [FieldTest(i, 1, "<", low)]
    if prefix == "ge":
        return [FieldTest(i, 1, ">=", low)]
    if prefix == "le":
        return [FieldTest(i, 0, "<=", high)]
    raise BadRequest(f"The prefix '{prefix}' is not supported inside a composite value")
