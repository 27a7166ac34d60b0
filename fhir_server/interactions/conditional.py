"""Resolving the search criteria of conditional create, update and delete.

http://hl7.org/fhir/R4/http.html#ccreate, #cond-update, #cdelete. The criteria are parsed
strictly: a typo in a parameter name must not turn into "match everything".
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qsl

from fhir_server.errors import BadRequest, Conflict
from fhir_server.interactions.context import Context
from fhir_server.search.plan import SearchPlan
from fhir_server.search.query import QueryOptions, parse_search
from fhir_server.storage.contracts import StoredVersion

__all__ = [
    "criteria_plan",
    "find_matches",
    "parse_criteria",
    "plan_matches",
    "refuse_replacing",
]


def parse_criteria(text: str) -> list[tuple[str, str]]:
    """The query-string criteria of an If-None-Exist header (with or without `Type?`): only
    a leading `Type?` is cut, a `?` inside a value (`identifier=http://x.org/id?a|1`) stays."""
    head, mark, rest = text.partition("?")
    query = rest if mark and "=" not in head and "&" not in head else text
    return parse_qsl(query, keep_blank_values=True)


async def find_matches(
    ctx: Context, resource_type: str, criteria: list[tuple[str, str]], *, ignored: int = 0
) -> list[StoredVersion]:
    """Up to two current resources matching `criteria` (two is enough to know "many"),
    plus `ignored` more for a caller that will set that many aside (a transaction's
    own DELETEs): two must still be left to see "many"."""
    return await plan_matches(ctx, criteria_plan(ctx, resource_type, criteria), ignored=ignored)


async def plan_matches(ctx: Context, plan: SearchPlan, *, ignored: int = 0) -> list[StoredVersion]:
    """`find_matches` for criteria already parsed by `criteria_plan`."""
    limit = 2 + ignored
    page = await ctx.store.search(replace(plan, count=limit, total="none", cursor=None))
    return page.matches


def criteria_plan(ctx: Context, resource_type: str, criteria: list[tuple[str, str]]) -> SearchPlan:
    """The search a conditional request's criteria stand for (strict: a typo in a name is
    a 400, not "match everything")."""
    options = QueryOptions(2, 2, strict=True, base_url=ctx.request.base_url)
    plan = parse_search(resource_type, criteria, ctx.registry, options)
    if not plan.conditions:
        raise BadRequest("A conditional request needs at least one search criterion")
    return plan


def refuse_replacing(rtype: str, resource_id: str, current: StoredVersion | None) -> None:
    """With no match, a conditional update's id names a new resource (update as create),
    never `current`, one that exists without matching the criteria (409, as R5 spells
    out: R4 says only that no match makes the update a create)."""
    if current is not None and not current.deleted:
        raise Conflict(
            f"No {rtype} matches the conditional update, and {rtype}/{resource_id} exists "
            "without matching it: it is not replaced"
        )
