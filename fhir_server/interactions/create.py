"""create and conditional create: http://hl7.org/fhir/R4/http.html#create and #ccreate.

The server assigns the id (any id in the body is ignored, as the spec says), version 1 and
lastUpdated. `If-None-Exist` makes the create conditional on no match.
"""

from __future__ import annotations

from fhir_server.errors import BadRequest, PreconditionFailed
from fhir_server.exchange import FhirResponse
from fhir_server.interactions.conditional import find_matches, parse_criteria
from fhir_server.interactions.context import Context
from fhir_server.interactions.responses import resource_response
from fhir_server.interactions.writes import new_id, prepare_put, validate_body
from fhir_server.storage.contracts import StoredVersion

__all__ = ["create"]


async def create(ctx: Context) -> FhirResponse:
    request = ctx.request
    rtype = request.resource_type
    assert rtype is not None
    if request.body is None:
        raise BadRequest("create needs a resource in the body")
    validate_body(ctx, request.body, rtype)
    if_none_exist = request.header("if-none-exist")
    if if_none_exist:
        matches = await find_matches(ctx, rtype, parse_criteria(if_none_exist))
        if len(matches) > 1:
            raise PreconditionFailed(
                "If-None-Exist matched more than one resource; the criteria are not selective"
            )
        if matches:
            return resource_response(request, matches[0], status=200, location=True)
    resource_id = new_id()
    op, _ = prepare_put(
        ctx, request.body, resource_type=rtype, resource_id=resource_id, current=None, method="POST"
    )
    await ctx.store.commit([op])
    stored = StoredVersion(rtype, resource_id, op.version, op.last_updated_us, "POST", op.body)
    return resource_response(request, stored, status=201, location=True)
