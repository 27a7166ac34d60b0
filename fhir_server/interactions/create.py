"""create and conditional create: http://hl7.org/fhir/R4/http.html#create and #ccreate.

The server assigns the id (any id in the body is ignored, as the spec says), version 1 and
lastUpdated. `If-None-Exist` makes the create conditional on no match.
"""

from __future__ import annotations

from dataclasses import replace

from fhir_server.errors import BadRequest, PreconditionFailed
from fhir_server.exchange import FhirResponse
from fhir_server.interactions.conditional import criteria_plan, parse_criteria, plan_matches
from fhir_server.interactions.conditional_references import resolve_conditional_references
from fhir_server.interactions.context import Context
from fhir_server.interactions.responses import resource_response
from fhir_server.interactions.writes import new_id, prepare_put, validate_body
from fhir_server.search.plan import SearchPlan
from fhir_server.storage.contracts import StoredVersion, VersionConflict

__all__ = ["create"]


async def create(ctx: Context) -> FhirResponse:
    request = ctx.request
    rtype = request.resource_type
    assert rtype is not None
    if request.body is None:
        raise BadRequest("create needs a resource in the body")
    validate_body(ctx, request.body, rtype)
    await resolve_conditional_references(ctx, request.body)
    if_none_exist = request.header("if-none-exist")
    # an empty header is criteria that say nothing (400), not a plain create
    criteria = (
        None if if_none_exist is None else criteria_plan(ctx, rtype, parse_criteria(if_none_exist))
    )
    for _ in range(_ATTEMPTS):
        if criteria is not None:
            existing = await _the_match(ctx, criteria)
            if existing is not None:
                return resource_response(request, existing, status=200, location=True)
        resource_id = new_id()
        op, _ = prepare_put(
            ctx,
            request.body,
            resource_type=rtype,
            resource_id=resource_id,
            current=None,
            method="POST",
        )
        if criteria is not None:  # checked again where the write is serialized (WriteOp)
            op = replace(op, unless_matched=criteria)
        try:
            await ctx.store.commit([op])
        except VersionConflict:
            continue  # a racing conditional create made the match first: answer with it
        stored = StoredVersion(rtype, resource_id, op.version, op.last_updated_us, "POST", op.body)
        return resource_response(request, stored, status=201, location=True)
    raise PreconditionFailed(
        f"{rtype} matching If-None-Exist is being changed by others; try again"
    )


# Conditional creates that lose a race read again; a match then answers them.
_ATTEMPTS = 3


async def _the_match(ctx: Context, criteria: SearchPlan) -> StoredVersion | None:
    matches = await plan_matches(ctx, criteria)
    if len(matches) > 1:
        raise PreconditionFailed(
            "If-None-Exist matched more than one resource; the criteria are not selective"
        )
    return matches[0] if matches else None
