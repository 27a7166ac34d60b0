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

from typing import Literal

from fhir_server.errors import BadRequest
from fhir_server.instants import now_us, parse_fhir_datetime_range
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
        # A `ne` component is one of two ranges, so a value can stand for several sets of
        # tests on the same entry: alternatives, ORed like comma-separated values.
        alternatives: list[list[FieldTest]] = [[]]
        for index, (kind, part) in enumerate(zip(types, parts, strict=True)):
            options = _component(index, kind, part, name)
            alternatives = [[*tests, *option] for tests in alternatives for option in options]
        parsed += [tuple(tests) for tests in alternatives]
    return CompositeCondition(definition.code, tuple(parsed))


def _component(i: int, kind: str, text: str, name: str) -> list[list[FieldTest]]:
    """The tests one part puts on component `i` of an entry: one list of tests (ANDed),
    or for `ne` two (either holds)."""
    if kind == "date":
        return _date(i, text, name)
    if kind in ("number", "quantity"):
        return _number(i, kind, text, name)
    return [_plain_component(i, kind, text, name)]


def _plain_component(i: int, kind: str, text: str, name: str) -> list[FieldTest]:
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
    raise BadRequest(f"The component type '{kind}' is not supported for {name}", (name,))


def _point_tests(
    i: int, field: int, prefix: str, value: float, low: float, high: float
) -> list[list[FieldTest]]:
    """The prefix on the stated value (field `field`), as plain number search does
    (search.html#number): `eq` keeps values inside the search value's precision range and
    `ne` those outside it, the ordering prefixes compare with the search value itself."""

    def test(op: Literal["<", "<=", ">", ">="], bound: float) -> FieldTest:
        return FieldTest(i, field, op, float_key(bound))

    if prefix == "eq":
        return [[test(">=", low), test("<", high)]]
    if prefix == "ne":
        return [[test("<", low)], [test(">=", high)]]
    if prefix in ("gt", "sa"):
        return [[test(">", value)]]
    if prefix in ("lt", "eb"):
        return [[test("<", value)]]
    if prefix == "ge":
        return [[test(">=", value)]]
    if prefix == "le":
        return [[test("<=", value)]]
    gap = abs(value) * 0.1  # ap
    return [[test(">=", value - gap), test("<=", value + gap)]]


def _number(i: int, kind: str, text: str, name: str) -> list[list[FieldTest]]:
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
        unit_tests = [FieldTest(i, 6, "=", canonical.code)]
        return [[*tests, *unit_tests] for tests in _point_tests(i, 8, prefix, value, low, high)]
    # the stated value: field 7 of a quantity key, field 2 of a number key
    options = _point_tests(i, 7 if kind == "quantity" else 2, prefix, value, low, high)
    unit_tests = [FieldTest(i, 2, "=", system)] if system else []
    if unit:
        unit_tests.append(FieldTest(i, 3, "=", unit))
    return [[*tests, *unit_tests] for tests in options]


def _date(i: int, text: str, name: str) -> list[list[FieldTest]]:
    """The prefix on the entry's [low, high] range (fields 0 and 1), as date search does."""
    prefix, value = split_prefix(text)
    found = parse_fhir_datetime_range(value)
    if found is None:
        raise BadRequest(f"'{text[:80]}' is not a valid date for {name}", (name,))
    low, high = found
    if prefix == "ap":  # within 10 % of the distance to now, as date search does
        gap = abs(now_us() - low) // 10
        return [
            [FieldTest(i, 1, ">=", int_key(low - gap)), FieldTest(i, 0, "<=", int_key(high + gap))]
        ]
    low_key, high_key = int_key(low), int_key(high)
    tests: dict[str, list[list[FieldTest]]] = {
        "eq": [[FieldTest(i, 0, ">=", low_key), FieldTest(i, 1, "<=", high_key)]],
        "ne": [[FieldTest(i, 0, "<", low_key)], [FieldTest(i, 1, ">", high_key)]],
        "gt": [[FieldTest(i, 1, ">", high_key)]],
        "lt": [[FieldTest(i, 0, "<", low_key)]],
        "sa": [[FieldTest(i, 0, ">", high_key)]],  # starts after the search range
        "eb": [[FieldTest(i, 1, "<", low_key)]],  # ends before it
        "ge": [[FieldTest(i, 1, ">=", low_key)]],
        "le": [[FieldTest(i, 0, "<=", high_key)]],
    }
    return tests[prefix]
