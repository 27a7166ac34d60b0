"""update, update-as-create and conditional update: http://hl7.org/fhir/R4/http.html#update.

`If-Match: W/"n"` makes the update succeed only while version n is current (412 otherwise,
#concurrency). Without it, a lost race is retried on the new current version, after a
short random pause, so concurrent updates all land, in some order, with strictly
increasing version ids; one that still loses after WRITE_ATTEMPTS tries is a 409.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fhir_server.errors import BadRequest, Conflict, PreconditionFailed
from fhir_server.exchange import FhirResponse
from fhir_server.interactions.conditional import criteria_plan, plan_matches, refuse_replacing
from fhir_server.interactions.conditional_references import resolve_conditional_references
from fhir_server.interactions.context import Context
from fhir_server.interactions.preconditions import IfMatch, parse_if_match
from fhir_server.interactions.responses import resource_response
from fhir_server.interactions.writes import (
    WRITE_ATTEMPTS,
    contention_pause,
    new_id,
    prepare_put,
    try_commit,
    validate_body,
)
from fhir_server.routing import check_id
from fhir_server.search.plan import SearchPlan
from fhir_server.search.query import CONTROL_PARAMS
from fhir_server.storage.contracts import StoredVersion

__all__ = ["update"]

# Searches of a conditional update whose create lost to a racing write of a match.
_CONDITIONAL_ATTEMPTS = 4


async def update(ctx: Context) -> FhirResponse:
    request = ctx.request
    rtype = request.resource_type
    assert rtype is not None
    body = request.body
    if body is None:
        raise BadRequest("update needs a resource in the body")
    validate_body(ctx, body, rtype)
    await resolve_conditional_references(ctx, body)
    body_id = body.get("id")
    if body_id is not None and not isinstance(body_id, str):
        raise BadRequest("Resource.id must be a string", ("id",))
    if request.resource_id is None:
        return await _conditional_write(ctx, rtype, body, body_id)
    if body_id is None:
        raise BadRequest(
            f"The body has no id; an update needs the id of the URL ('{request.resource_id}')",
            ("id",),
        )
    if body_id != request.resource_id:
        raise BadRequest(
            f"The body's id '{body_id[:64]}' must equal the id in the URL '{request.resource_id}'",
            ("id",),
        )
    if_match = parse_if_match(request.header("if-match"))
    response = await _write(ctx, rtype, request.resource_id, body, if_match)
    if response is None:
        raise _contended(rtype, request.resource_id)
    return response


async def _conditional_write(
    ctx: Context, rtype: str, body: dict[str, Any], body_id: str | None
) -> FhirResponse:
    """`PUT Type?criteria`: update the one match, or create. A create carries its criteria
    to where the write is serialized: if a racing conditional write made a match
    meanwhile, it is refused there, and the criteria are searched again to update that
    match (two racing conditional updates make one resource, as If-None-Exist does)."""
    if_match = parse_if_match(ctx.request.header("if-match"))
    for _ in range(_CONDITIONAL_ATTEMPTS):
        resource_id, unless = await _conditional_target(ctx, rtype, body_id)
        response = await _write(ctx, rtype, resource_id, body, if_match, unless)
        if response is not None:
            return response
    raise _contended(rtype, "matching the criteria")


async def _conditional_target(
    ctx: Context, rtype: str, body_id: str | None
) -> tuple[str, SearchPlan | None]:
    """The id a conditional update writes, and, when it creates (no match), its criteria."""
    criteria = [(k, v) for k, v in ctx.request.params if k not in CONTROL_PARAMS]
    plan = criteria_plan(ctx, rtype, criteria)
    matches = await plan_matches(ctx, plan)
    if len(matches) > 1:
        raise PreconditionFailed("The conditional update matched more than one resource")
    if matches:
        if body_id is not None and body_id != matches[0].id:
            raise BadRequest(
                f"The body's id '{body_id}' differs from the matching resource's id", ("id",)
            )
        return matches[0].id, None
    if body_id is None:
        return new_id(), plan
    refuse_replacing(rtype, body_id, await ctx.store.read(rtype, body_id))
    return check_id(body_id), plan


async def _write(
    ctx: Context,
    rtype: str,
    resource_id: str,
    body: dict[str, Any],
    if_match: IfMatch | None,
    unless_matched: SearchPlan | None = None,
) -> FhirResponse | None:
    """Write `body` as the next version of `rtype/resource_id`; None when concurrent
    writers kept winning (or, with `unless_matched`, one made a match meanwhile)."""
    for attempt in range(WRITE_ATTEMPTS):
        current = await ctx.store.read(rtype, resource_id)
        if unless_matched is not None and current is not None and not current.deleted:
            # creating under an id the body names, which a racing write took meanwhile
            return None
        what = f"{rtype}/{resource_id}"
        expected = if_match.current_version(what, current) if if_match else None
        op, _ = prepare_put(
            ctx, body, resource_type=rtype, resource_id=resource_id, current=current, method="PUT"
        )
        if unless_matched is not None:
            op = replace(op, unless_matched=unless_matched)
        if not await try_commit(ctx, op, expected):
            if unless_matched is not None:
                return None  # perhaps a match now: the caller searches again
            await contention_pause(attempt)
            continue
        created = current is None or current.deleted
        stored = StoredVersion(rtype, resource_id, op.version, op.last_updated_us, "PUT", op.body)
        return resource_response(ctx.request, stored, status=201 if created else 200, location=True)
    return None


def _contended(rtype: str, what: str) -> Conflict:
    return Conflict(f"{rtype} {what} is being changed by others; try again")
