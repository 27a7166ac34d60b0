"""patch and conditional patch: http://hl7.org/fhir/R4/http.html#patch.

The body is a JSON Patch (`application/json-patch+json`, RFC 6902) or a FHIRPath Patch (a
Parameters resource, fhirpatch.html). The patch applies to the current version; the result
must still be a valid R4 resource of the same type and id, or nothing is stored (422).
`If-Match` makes the patch apply only to the named version (412 otherwise, as the spec
asks of servers supporting PATCH); without it a lost race is retried on the new version,
so the patch is never applied to a version it was not checked against.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import (
    BadRequest,
    Conflict,
    Gone,
    NotFound,
    PreconditionFailed,
    UnprocessableEntity,
)
from fhir_server.exchange import FhirResponse
from fhir_server.interactions.conditional import find_matches
from fhir_server.interactions.conditional_references import resolve_conditional_references
from fhir_server.interactions.context import Context
from fhir_server.interactions.fhirpath_patch import apply_fhirpath_patch, is_fhirpath_patch
from fhir_server.interactions.json_patch import apply_json_patch
from fhir_server.interactions.preconditions import parse_if_match
from fhir_server.interactions.responses import resource_response
from fhir_server.interactions.writes import (
    WRITE_ATTEMPTS,
    contention_pause,
    prepare_put,
    try_commit,
)
from fhir_server.resource_json import load_json
from fhir_server.search.query import CONTROL_PARAMS
from fhir_server.storage.contracts import StoredVersion

__all__ = ["PatchBody", "patch", "patched_resource"]


PatchBody = tuple[list[Any] | None, dict[str, Any] | None]  # (JSON Patch, Parameters)


def patched_resource(ctx: Context, current: StoredVersion, body: PatchBody) -> dict[str, Any]:
    """The current version with the patch applied and validated (422 if invalid)."""
    json_patch, parameters = body
    assert current.body is not None
    resource: dict[str, Any] = load_json(current.body)
    if json_patch is not None:
        result = apply_json_patch(resource, json_patch)
    elif parameters is not None and is_fhirpath_patch(parameters):
        result = apply_fhirpath_patch(resource, parameters)
    else:
        raise BadRequest(
            "PATCH needs a JSON Patch (Content-Type: application/json-patch+json) or a "
            "FHIRPath Patch (a Parameters resource)"
        )
    if result.get("resourceType") != current.resource_type or result.get("id") != current.id:
        raise UnprocessableEntity("A patch must not change the resource's type or id")
    issues = ctx.services.validate(result)
    if issues:
        first, rest = issues[0], issues[1:]
        raise UnprocessableEntity(
            f"The patched resource is not valid: {first.diagnostics}",
            first.expression,
            extra_issues=list(rest),
        )
    return result


async def patch(ctx: Context) -> FhirResponse:
    request = ctx.request
    rtype = request.resource_type
    assert rtype is not None
    body: PatchBody = (request.json_patch, request.body)
    if request.json_patch is None and not is_fhirpath_patch(request.body):
        raise BadRequest(
            "PATCH needs a JSON Patch (Content-Type: application/json-patch+json) or a "
            "FHIRPath Patch (a Parameters resource)"
        )
    resource_id = request.resource_id or await _conditional_target(ctx, rtype)
    if_match = parse_if_match(request.header("if-match"))
    for attempt in range(WRITE_ATTEMPTS):
        current = await ctx.store.read(rtype, resource_id)
        if current is None:
            raise NotFound(f"{rtype}/{resource_id} is not known")
        if current.deleted:
            raise Gone(f"{rtype}/{resource_id} was deleted")
        expected = if_match.current_version(f"{rtype}/{resource_id}", current) if if_match else None
        result = patched_resource(ctx, current, body)
        await resolve_conditional_references(ctx, result)
        op, _ = prepare_put(
            ctx,
            result,
            resource_type=rtype,
            resource_id=resource_id,
            current=current,
            method="PATCH",
        )
        if not await try_commit(ctx, op, expected):
            await contention_pause(attempt)
            continue
        stored = StoredVersion(rtype, resource_id, op.version, op.last_updated_us, "PATCH", op.body)
        return resource_response(request, stored, status=200)
    raise Conflict(f"{rtype}/{resource_id} is being changed by others; try again")


async def _conditional_target(ctx: Context, rtype: str) -> str:
    criteria = [(k, v) for k, v in ctx.request.params if k not in CONTROL_PARAMS]
    matches = await find_matches(ctx, rtype, criteria)
    if len(matches) > 1:
        raise PreconditionFailed("The conditional patch matched more than one resource")
    if not matches:
        raise NotFound(f"No {rtype} matched the conditional patch's criteria")
    return matches[0].id
