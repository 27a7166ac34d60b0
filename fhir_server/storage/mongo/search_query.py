"""Compiling a `SearchPlan` into a MongoDB filter over `resources` (docs/mongodb.md).

One function per condition kind, each mirroring the SQLite compiler
(`fhir_server.storage.sqlite.search_sql`): where SQL asks for a row of an index table,
this asks for an element of the `idx` array with `$elemMatch`, so every test on one
element is answered by one compound multikey index (`schema.INDEXES`).

Client values only ever appear as operands (the right-hand side of a field or of a
comparison operator), never as field names or operators; `_operand` refuses anything that
is not a plain scalar, so even a bug upstream cannot smuggle a `{"$where": ...}` in.
"""

from __future__ import annotations

from typing import Any

from fhir_server.search.plan import (
    Bound,
    Condition,
    IdCondition,
    LastUpdatedCondition,
    RangeMatch,
    SearchPlan,
    TokenCondition,
    TokenMatch,
)
from fhir_server.storage.mongo.documents import Document

__all__ = ["INT64_MAX", "INT64_MIN", "clamp_int64", "search_filter"]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_OPERATORS = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}


def search_filter(tenant: str, plan: SearchPlan) -> Document:
    """The filter selecting the plan's current, non-deleted resources (no paging)."""
    query: Document = {"tenant": tenant, "type": plan.resource_type, "deleted": False}
    clauses = [condition_filter(c) for c in plan.conditions]
    if clauses:
        query["$and"] = clauses
    return query


def condition_filter(condition: Condition) -> Document:
    """One condition as a filter on a resource document."""
    match condition:
        case IdCondition():
            return id_filter(condition)
        case LastUpdatedCondition():
            return last_updated_filter(condition)
        case TokenCondition():
            return token_filter(condition)
    raise TypeError(f"unsupported condition {type(condition).__name__}")


# -- building blocks ------------------------------------------------------------------


def _operand(value: object) -> Any:
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


def _any_of(clauses: list[Document]) -> Document:
    """ORed clauses; an empty OR matches nothing (as in SQL, `IN ()` is false)."""
    if not clauses:
        return {"$nor": [{}]}  # {} matches every document, so this matches none
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


def _none_of(clauses: list[Document]) -> Document:
    if not clauses:
        return {}
    return {"$nor": clauses}


def _element(param: str, tests: Document) -> Document:
    """`idx` holds an element of `param` passing every test."""
    return {"idx": {"$elemMatch": {"p": _operand(param), **tests}}}


def _comparisons(bounds: tuple[Bound, ...], ends: dict[str, str]) -> Document:
    """Bounds ANDed on the fields named by `ends` (low/high); {} when there are none."""
    parts = [{ends[b.end]: {_OPERATORS[b.op]: _operand(b.value)}} for b in bounds]
    if not parts:
        return {}
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _range_match(field_ends: dict[str, str], match: RangeMatch) -> Document:
    tests = _comparisons(match.bounds, field_ends)
    return {"$nor": [tests]} if match.negated else tests


# -- one function per condition kind --------------------------------------------------


def id_filter(condition: IdCondition) -> Document:
    return {"id": {"$in": [_operand(i) for i in condition.ids]}}


def last_updated_filter(condition: LastUpdatedCondition) -> Document:
    # The update instant is a point: its low and high are both the `updated` field.
    ends = {"low": "updated", "high": "updated"}
    return _any_of([_range_match(ends, m) for m in condition.matches])


def _token_tests(match: TokenMatch) -> Document:
    if not match.system_given:
        return {"c": _operand(match.code)}
    if match.system is None:
        return {"c": _operand(match.code), "sy": None}  # `|code`: no system at all
    if match.code is None:
        return {"sy": _operand(match.system)}
    return {"c": _operand(match.code), "sy": _operand(match.system)}


def token_filter(condition: TokenCondition) -> Document:
    # Each value is its own $elemMatch: the planner gives each OR branch its own index
    # scan on (tenant, type, idx.p, idx.c, idx.sy), which a nested $or would not get.
    clauses = [_element(condition.param, _token_tests(v)) for v in condition.values]
    return _none_of(clauses) if condition.negated else _any_of(clauses)
