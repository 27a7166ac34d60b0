"""update, update-as-create and conditional update: http://hl7.org/fhir/R4/http.html#update.

`If-Match: W/"n"` makes the update succeed only while version n is current (412 otherwise,
#concurrency). Without it, a lost race is retried on the new current version, so two
concurrent updates both land, in some order, with strictly increasing version ids.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import BadRequest, PreconditionFailed
from fhir_server.exchange import FhirResponse
from fhir_server.interactions.conditional import find_matches, refuse_replacing
from fhir_server.interactions.conditional_references import resolve_conditional_references
from fhir_server.interactions.context import Context
from fhir_server.interactions.preconditions import IfMatch, parse_if_match
from fhir_server.interactions.responses import resource_response
from fhir_server.interactions.writes import new_id, prepare_put, try_commit, validate_body
from fhir_server.routing import check_id
from fhir_server.search.query import CONTROL_PARAMS
from fhir_server.storage.contracts import StoredVersion

__all__ = ["update"]

# Retries of a compare-and-swap lost to a concurrent writer (only without If-Match).
_MAX_RETRIES = 8


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
    create_only = False
    if request.resource_id is None:
        resource_id, create_only = await _conditional_target(ctx, rtype, body_id)
    else:
        if body_id is None:
            raise BadRequest(
                f"The body has no id; an update needs the id of the URL ('{request.resource_id}')",
                ("id",),
            )
        if body_id != request.resource_id:
            raise BadRequest(
                f"The body's id '{body_id[:64]}' must equal the id in the URL "
                f"'{request.resource_id}'",
                ("id",),
            )
        resource_id = request.resource_id
    if_match = parse_if_match(request.header("if-match"))
    return await _write(ctx, rtype, resource_id, body, if_match, create_only)


async def _conditional_target(ctx: Context, rtype: str, body_id: str | None) -> tuple[str, bool]:
    """The id a conditional update writes, and whether it may only create (no match)."""
    criteria = [(k, v) for k, v in ctx.request.params if k not in CONTROL_PARAMS]
    matches = await find_matches(ctx, rtype, criteria)
    if len(matches) > 1:
        raise PreconditionFailed("The conditional update matched more than one resource")
    if matches:
        if body_id is not None and body_id != matches[0].id:
            raise BadRequest(
                f"The body's id '{body_id}' differs from the matching resource's id", ("id",)
            )
        return matches[0].id, False
    return (check_id(body_id), True) if body_id is not None else (new_id(), True)


async def _write(
    ctx: Context,
    rtype: str,
    resource_id: str,
    body: dict[str, Any],
    if_match: IfMatch | None,
    create_only: bool = False,
) -> FhirResponse:
    for _ in range(_MAX_RETRIES):
        current = await ctx.store.read(rtype, resource_id)
        if create_only and current is not None and not current.deleted:
            # a racing conditional update may have just created it, matching the criteria
            found_id, create_only = await _conditional_target(ctx, rtype, resource_id)
            if create_only or found_id != resource_id:
                refuse_replacing(rtype, resource_id, current)
        what = f"{rtype}/{resource_id}"
        expected = if_match.current_version(what, current) if if_match else None
        op, _ = prepare_put(
            ctx, body, resource_type=rtype, resource_id=resource_id, current=current, method="PUT"
        )
        if not await try_commit(ctx, op, expected):
            continue
        created = current is None or current.deleted
        stored = StoredVersion(rtype, resource_id, op.version, op.last_updated_us, "PUT", op.body)
        return resource_response(ctx.request, stored, status=201 if created else 200, location=True)
    raise PreconditionFailed(f"{rtype}/{resource_id} is being changed by others; try again")
