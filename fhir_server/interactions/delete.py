"""delete and conditional delete: http://hl7.org/fhir/R4/http.html#delete and #cdelete.

A deletion is recorded as a new version without a body: reads answer 410 Gone, history
shows it. Deleting what is already deleted, or never existed, changes nothing (204).
Conditional delete removes a single match (CapabilityStatement: conditionalDelete=single).
"""

from __future__ import annotations

from fhir_server.errors import Conflict, Issue, PreconditionFailed
from fhir_server.exchange import FhirResponse
from fhir_server.instants import last_modified
from fhir_server.interactions.conditional import find_matches
from fhir_server.interactions.context import Context
from fhir_server.interactions.preconditions import parse_if_match
from fhir_server.interactions.responses import etag
from fhir_server.interactions.writes import WRITE_ATTEMPTS, contention_pause, prepare_delete
from fhir_server.outcome import operation_outcome
from fhir_server.resource_json import dump
from fhir_server.search.query import CONTROL_PARAMS
from fhir_server.storage.contracts import VersionConflict

__all__ = ["delete"]


async def delete(ctx: Context) -> FhirResponse:
    request = ctx.request
    rtype = request.resource_type
    assert rtype is not None
    if request.resource_id is not None:
        return await _delete_one(ctx, rtype, request.resource_id)
    criteria = [(k, v) for k, v in request.params if k not in CONTROL_PARAMS]
    matches = await find_matches(ctx, rtype, criteria)
    if len(matches) > 1:
        raise PreconditionFailed("The conditional delete matched more than one resource")
    if not matches:
        return _outcome(200, f"No {rtype} matched the criteria; nothing was deleted")
    return await _delete_one(ctx, rtype, matches[0].id)


async def _delete_one(ctx: Context, rtype: str, resource_id: str) -> FhirResponse:
    if_match = parse_if_match(ctx.request.header("if-match"))
    for attempt in range(WRITE_ATTEMPTS):
        current = await ctx.store.read(rtype, resource_id)
        if if_match is not None:
            if_match.current_version(f"{rtype}/{resource_id}", current)
        if current is None or current.deleted:
            return FhirResponse(204, None, {}, rtype, resource_id)
        op = prepare_delete(rtype, resource_id, current)
        try:
            await ctx.store.commit([op])
            break
        except VersionConflict as exc:
            if if_match is not None:  # the version the client named is gone
                raise PreconditionFailed(
                    f"{rtype}/{resource_id} changed while it was being deleted"
                ) from exc
            await contention_pause(attempt)  # changed meanwhile: delete what is there now
    else:
        raise Conflict(f"{rtype}/{resource_id} is being changed by others; try again")
    response = _outcome(200, f"Deleted {rtype}/{resource_id} (version {op.version})")
    response.headers.update(
        {"ETag": etag(op.version), "Last-Modified": last_modified(op.last_updated_us)}
    )
    response.resource_type, response.resource_id = rtype, resource_id
    return response


def _outcome(status: int, text: str) -> FhirResponse:
    body = dump(operation_outcome([Issue("informational", text, severity="information")]))
    return FhirResponse(status, body)
