"""Compiling search conditions into MongoDB filters over `resources` (docs/mongodb.md).

One function per condition kind, each mirroring the SQLite compiler
(`fhir_server.storage.sqlite.search_sql` and `entry_match`): where SQL probes a row of an
index table, this asks for an element of the kind's array with `$elemMatch`, so all the
tests on one entry are answered by that kind's compound multikey index.

Client values only ever appear as operands (the right-hand side of a field or of a
comparison), never as field names or operators; `operand` refuses anything that is not a
plain scalar, so even a bug upstream cannot smuggle a `{"$where": ...}` in.
"""

from __future__ import annotations

import re
from typing import Any

from fhir_server.search.plan import (
    Bound,
    CompositeCondition,
    DateCondition,
    FieldTest,
    NumberCondition,
    QuantityCondition,
    QuantityMatch,
    RangeMatch,
    ReferenceCondition,
    ReferenceMatch,
    StringCondition,
    TokenCondition,
    TokenMatch,
    TokenTextCondition,
    UriCondition,
)
from fhir_server.storage.mongo.documents import ARRAYS, Document

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "NOTHING",
    "all_of",
    "any_of",
    "clamp_int64",
    "element_filter",
    "element_tests",
    "has_element",
    "negation",
    "operand",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Larger than any character a FHIR string holds: `p <= v < p + TOP` is "v starts with p".
TOP = "\U0010ffff"
# No document has an `_id` in the empty set; an index answers it without reading any.
NOTHING: Document = {"_id": {"$in": []}}

_OPERATORS = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}

ElementTests = tuple[str, list[tuple[bool, Document]]]


def operand(value: object) -> Any:
    """A client-derived value as a comparison operand: scalars only (see module doc)."""
    if value is None or isinstance(value, str | float | bool):
        return value
    if isinstance(value, int):
        return clamp_int64(value)
    raise TypeError(f"not a scalar search value: {type(value).__name__}")


def clamp_int64(value: int) -> int:
    """BSON integers are 64-bit; a bound beyond them (a forged cursor, year 300000) is
    clamped, which keeps the comparison's answer, instead of failing to encode."""
    return min(max(value, INT64_MIN), INT64_MAX)


def any_of(clauses: list[Document]) -> Document:
    """ORed clauses; none at all matches nothing (as SQL's `1 = 0`)."""
    if not clauses:
        return dict(NOTHING)
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


def negation(clause: Document) -> Document:
    """NOT `clause`; the negation of "everything" (`{}`) is nothing."""
    return {"$nor": [clause]} if clause else dict(NOTHING)


def all_of(clauses: list[Document]) -> Document:
    """ANDed clauses; none at all matches everything (as SQL's `1 = 1`)."""
    clauses = [c for c in clauses if c]
    if not clauses:
        return {}
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


# -- tests on one entry (the body of an $elemMatch) ------------------------------------


def _token(match: TokenMatch) -> Document:
    if match.code is None and (not match.system_given or match.system is None):
        # `|` alone: SQL's `code = NULL` is never true; `{c: null}` would match every
        # entry without a code (the display-text ones), so say "nothing" outright
        return dict(NOTHING)
    if not match.system_given:
        return {"c": operand(match.code)}
    if match.system is None:
        return {"c": operand(match.code), "sy": None}  # `|code`: no system at all
    if match.code is None:
        return {"sy": operand(match.system)}
    return {"c": operand(match.code), "sy": operand(match.system)}


def _prefix(field: str, prefix: str) -> Document:
    """`field` starts with `prefix`, as an index-friendly range (no regex engine)."""
    return {field: {"$gte": operand(prefix), "$lt": operand(prefix + TOP)}}


def _contains(field: str, text: str) -> Document:
    if "\x00" in text:
        # BSON cannot carry NUL in a pattern, and no stored FHIR string holds one.
        return dict(NOTHING)
    return {field: {"$regex": re.escape(operand(text))}}


def _bounds(match: RangeMatch, low: str, high: str, mid: str | None) -> Document:
    """The bounds of a range match, ANDed, on the element's range fields."""
    parts: list[Document] = []
    for bound in match.bounds:
        test = {_OPERATORS[bound.op]: operand(bound.value)}
        if bound.end == "mid":
            # a stated value, or a true range (`rg`, no middle stored) at its facing end
            facing = low if bound.range_end == "low" else high
            parts.append(
                any_of([{_end_field(bound, low, high, mid): test}, {"rg": True, facing: test}])
            )
        else:
            parts.append({_end_field(bound, low, high, mid): test})
    return all_of(parts)


def _end_field(bound: Bound, low: str, high: str, mid: str | None) -> str:
    if bound.end == "low":
        return low
    if bound.end == "high":
        return high
    if mid is None:
        raise TypeError("a midpoint bound on an entry kind without a stored midpoint")
    return mid


def _range(tests: Document, negated: bool) -> Document:
    """`ne`: the entry's value lies outside the searched range. A resource with no value
    at all does not match (unlike a token's `:not`), so the negation stays inside the
    entry test, as in the SQLite adapter."""
    return negation(tests) if negated else tests


def _quantity(match: QuantityMatch) -> Document:
    negated = match.range.negated
    if match.canonical:
        value = _range(_bounds(match.range, "clo", "chi", "cm"), negated)
        return all_of([value, {"cc": operand(match.code)}])
    parts = [_range(_bounds(match.range, "lo", "hi", "m"), negated)]
    if match.system is not None:
        parts.append({"sy": operand(match.system)})
        if match.code is not None:
            parts.append({"c": operand(match.code)})
    elif match.code is not None:
        code = operand(match.code)
        parts.append({"$or": [{"c": code}, {"un": code}]})
    return all_of(parts)


def _reference(match: ReferenceMatch) -> Document:
    fields = (
        ("ri", match.target_id),
        ("rt", match.target_type),
        ("u", match.url),
        ("rv", match.version),
        ("is", match.identifier_system),
        ("iv", match.identifier_value),
    )
    found: Document = {name: operand(value) for name, value in fields if value is not None}
    if match.unversioned:
        found["rv"] = None  # the field is left out of an entry that has no version
    return found


def element_tests(condition: object) -> ElementTests | None:
    """The entry kind and the ORed per-value tests (each possibly negated) of a condition
    answered by one entry; None for other conditions. Mirrors SQLite's `entry_tests`."""
    match condition:
        case TokenCondition(_, values, negated):
            if negated:  # `:not=a,b`: no value is a or b (not: some value is not a)
                return "token", [(True, any_of([_token(v) for v in values]))]
            return "token", [(False, _token(v)) for v in values]
        case TokenTextCondition(_, prefixes):
            return "token", [(False, _prefix("tx", p)) for p in prefixes]
        case StringCondition(_, values, mode):
            if mode == "exact":
                return "string", [(False, {"x": operand(v)}) for v in values]
            if mode == "contains":
                return "string", [(False, _contains("v", v)) for v in values]
            return "string", [(False, _prefix("v", v)) for v in values]
        case UriCondition(_, values, mode):
            if mode == "below":
                return "uri", [(False, _prefix("v", v)) for v in values]
            return "uri", [(False, {"v": {"$in": [operand(v) for v in values]}})]
        case DateCondition(_, matches):
            return "date", [
                (False, _range(_bounds(m, "lo", "hi", None), m.negated)) for m in matches
            ]
        case NumberCondition(_, matches):
            return "number", [
                (False, _range(_bounds(m, "lo", "hi", "m"), m.negated)) for m in matches
            ]
        case QuantityCondition(_, values):
            return "quantity", [(False, _quantity(v)) for v in values]
        case ReferenceCondition(_, values):
            return "reference", [(False, _reference(v)) for v in values]
        case CompositeCondition(_, values):
            return "composite", [(False, _composite(tests)) for tests in values]
    return None


def _composite(tests: tuple[FieldTest, ...]) -> Document:
    """Tests on `k.<component>.<field>` (integers only), merged per field."""
    fields: Document = {}
    for test in tests:
        path = f"k.{int(test.component)}.{int(test.field)}"
        operator = "$eq" if test.op == "=" else _OPERATORS[test.op]
        fields.setdefault(path, {})[operator] = operand(test.value)
    return fields


def has_element(kind: str, param: str, tests: Document) -> Document:
    """The resource has an entry of `kind` for `param` passing `tests`."""
    if tests == NOTHING:
        return dict(NOTHING)
    return {f"idx.{ARRAYS[kind]}": {"$elemMatch": {"p": operand(param), **tests}}}


def element_filter(condition: object) -> Document | None:
    """A condition answered by single entries, as a filter; None for other kinds.

    Each value is its own `$elemMatch`, ORed: the planner gives every OR branch its own
    scan of the kind's index, which one `$elemMatch` holding an `$or` would not get. A
    negated value (`:not`, `ne`) keeps resources with no entry passing its tests.
    """
    found = element_tests(condition)
    if found is None:
        return None
    kind, values = found
    param = str(getattr(condition, "param", ""))
    parts = []
    for negated, tests in values:
        probe = has_element(kind, param, tests)
        parts.append(negation(probe) if negated else probe)
    return any_of(parts)
