"""A whole `SearchPlan`'s conditions as one MongoDB filter (docs/mongodb.md, "Search").

Conditions answered by single entries compile in `search_query`; this module adds the
rest: `_id`, `_lastUpdated`, `:missing`, `AnyOf`, and the conditions that look at other
resources. Those (chains, `_has`, `_list`) are resolved first, as the SQLite adapter's
`IN` sets are: a query for the inner resources, whose ids or references then become an
`$in` on the outer one. They are selective by nature; each inner query uses the same
indexes as a top-level search.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from fhir_server.search.plan import (
    AllOf,
    AnyOf,
    ChainCondition,
    Condition,
    HasCondition,
    IdCondition,
    LastUpdatedCondition,
    ListCondition,
    MissingCondition,
    RangeMatch,
    SearchPlan,
    TypeCondition,
)
from fhir_server.storage.mongo.documents import ARRAYS, Document
from fhir_server.storage.mongo.search_query import (
    NOTHING,
    all_of,
    any_of,
    element_filter,
    has_element,
    negation,
    operand,
)

__all__ = ["Finder", "condition_filter", "plan_filter"]

_OPERATORS = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}


class Finder(Protocol):
    """Runs the inner queries of chains, `_has` and `_list` (the store implements it)."""

    async def ids(self, query: Document) -> list[str]:
        """The ids of the resources matching `query`."""
        ...

    async def references(self, query: Document, param: str) -> list[tuple[str, str]]:
        """The distinct (target type, target id) of the `param` references held by the
        resources matching `query`."""
        ...


def _type_filter(plan: SearchPlan) -> Document:
    if plan.resource_type is not None:
        return {"type": operand(plan.resource_type)}
    if plan.types:
        return {"type": {"$in": [operand(t) for t in plan.types]}}
    return {}


async def plan_filter(tenant: str, plan: SearchPlan, finder: Finder) -> Document:
    """The filter selecting the plan's current, non-deleted resources (no paging)."""
    base: Document = {"tenant": tenant, **_type_filter(plan), "deleted": False}
    clauses = [
        await condition_filter(tenant, c, plan.resource_type, finder) for c in plan.conditions
    ]
    combined = all_of(clauses)
    if combined:
        base["$and"] = [combined]
    return base


def _matching(tenant: str, rtype: str, inner: Document) -> Document:
    return all_of([{"tenant": tenant, "type": operand(rtype), "deleted": False}, inner])


async def condition_filter(
    tenant: str, condition: Condition, rtype: str | None, finder: Finder
) -> Document:
    """A filter true for the resources (of type `rtype`, or any type when None) that
    satisfy `condition`. Mirrors SQLite's `predicate`."""
    element = element_filter(condition)
    if element is not None:
        return element
    match condition:
        case IdCondition(ids):
            return {"id": {"$in": [operand(i) for i in ids]}}
        case LastUpdatedCondition(matches):
            return any_of([_point(m, "updated") for m in matches])
        case MissingCondition(param, kind, missing):
            field = f"idx.{ARRAYS[kind]}.p"
            return {field: {"$ne": operand(param)}} if missing else {field: operand(param)}
        case ChainCondition(param, target_types, inner):
            return await _chain(tenant, param, target_types, inner, finder)
        case HasCondition(source_type, param, inner):
            sources = _matching(
                tenant, source_type, await condition_filter(tenant, inner, source_type, finder)
            )
            return _referenced(await finder.references(sources, param), rtype)
        case ListCondition(list_ids):
            lists = {
                "tenant": tenant,
                "type": "List",
                "deleted": False,
                "id": {"$in": [operand(i) for i in list_ids]},
            }
            return _referenced(await finder.references(lists, "item"), rtype)
        case AnyOf(conditions):
            return any_of([await condition_filter(tenant, c, rtype, finder) for c in conditions])
        case AllOf(conditions):
            return all_of([await condition_filter(tenant, c, rtype, finder) for c in conditions])
        case TypeCondition(of_type, inner):
            # each branch of an `$or` of types names the tenant too: the planner then
            # finds the (tenant, type, ...) indexes for every branch
            typed = {"tenant": tenant, "type": operand(of_type)}
            return all_of([typed, await condition_filter(tenant, inner, of_type, finder)])
    raise TypeError(f"unsupported condition {type(condition).__name__}")


def _point(match: RangeMatch, field: str) -> Document:
    """Bounds on a single-valued field (both ends of the range are the field)."""
    tests = all_of([{field: {_OPERATORS[b.op]: operand(b.value)}} for b in match.bounds])
    return negation(tests) if match.negated else tests


async def _chain(
    tenant: str, param: str, target_types: Iterable[str], inner: Condition, finder: Finder
) -> Document:
    """Target-first: the ids of each target type's matches, then the references to them."""
    clauses = []
    for target_type in target_types:
        found = _matching(
            tenant, target_type, await condition_filter(tenant, inner, target_type, finder)
        )
        ids = await finder.ids(found)
        if ids:
            tests = {"rt": operand(target_type), "ri": {"$in": [operand(i) for i in ids]}}
            clauses.append(has_element("reference", param, tests))
    return any_of(clauses)


def _referenced(targets: list[tuple[str, str]], rtype: str | None) -> Document:
    """The resources among `targets` (of type `rtype`, when given)."""
    by_type: dict[str, list[str]] = {}
    for target_type, target_id in targets:
        if rtype is None or target_type == rtype:
            by_type.setdefault(target_type, []).append(target_id)
    if rtype is not None:
        ids = by_type.get(rtype, [])
        return {"id": {"$in": [operand(i) for i in ids]}} if ids else dict(NOTHING)
    # A system search: the outer filter names the tenant (MongoDB pushes it into each
    # branch of this $or, which then scans (tenant, type, id)).
    return any_of(
        [
            {"type": operand(t), "id": {"$in": [operand(i) for i in ids]}}
            for t, ids in sorted(by_type.items())
        ]
    )
