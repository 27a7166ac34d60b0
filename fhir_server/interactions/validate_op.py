"""$validate: http://hl7.org/fhir/R4/resource-operation-validate.html.

`[type]/$validate` and `[type]/[id]/$validate` check a resource (the body, or the
`resource` parameter of a Parameters body) against the R4 structure, as a create or update
would, without storing anything. The answer is always 200 with an OperationOutcome: its
issues are the findings (none of severity error means the write would be accepted).
Malformed requests (no resource, an unknown mode) are 400. Profiles are not checked: a
`profile` parameter is answered with a warning saying so, never with a silent pass.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import BadRequest, Issue
from fhir_server.exchange import FhirResponse
from fhir_server.interactions.context import Context
from fhir_server.interactions.operation_params import (
    is_parameters,
    parameter_parts,
    single_value,
    values,
)
from fhir_server.outcome import operation_outcome
from fhir_server.resource_json import dump

__all__ = ["validate"]

_MODES = ("create", "update", "delete")


async def validate(ctx: Context) -> FhirResponse:
    request = ctx.request
    rtype = request.resource_type
    if rtype is None or request.version_id is not None:
        raise BadRequest("$validate is invoked as [base]/[type]/$validate or [type]/[id]/$validate")
    mode = single_value(ctx, "mode")
    if mode is not None and mode not in _MODES:
        raise BadRequest(f"mode must be one of {', '.join(_MODES)}", ("mode",))
    if mode == "delete":
        issues = await _delete_issues(ctx, rtype)
    else:
        issues = _resource_issues(ctx, rtype, _resource(ctx), mode)
    for profile in values(ctx, "profile"):
        issues.append(
            Issue(
                "not-supported",
                f"The profile '{str(profile)[:200]}' was not checked: this server validates "
                "against the base R4 structure only",
                severity="warning",
            )
        )
    if not any(issue.severity in ("error", "fatal") for issue in issues):
        issues.insert(0, Issue("informational", "No errors found", severity="information"))
    return FhirResponse(200, dump(operation_outcome(issues)), {}, rtype, request.resource_id)


def _resource(ctx: Context) -> dict[str, Any]:
    body = ctx.request.body
    parts = parameter_parts(ctx, "resource")
    # A Parameters body is the operation's input, unless a Parameters is what is checked.
    if parts or (is_parameters(body) and ctx.request.resource_type != "Parameters"):
        if len(parts) != 1 or not isinstance(parts[0].get("resource"), dict):
            raise BadRequest("$validate needs exactly one 'resource' parameter", ("resource",))
        resource: dict[str, Any] = parts[0]["resource"]
        return resource
    if body is None:
        raise BadRequest("$validate needs the resource to check in the body")
    return body


def _resource_issues(
    ctx: Context, rtype: str, resource: dict[str, Any], mode: str | None
) -> list[Issue]:
    found = resource.get("resourceType")
    if found != rtype:
        return [
            Issue(
                "invalid",
                f"The resource's type '{str(found)[:60]}' is not the URL's '{rtype}'",
                ("resourceType",),
            )
        ]
    issues = list(ctx.services.validate(resource))
    expected_id = ctx.request.resource_id
    body_id = resource.get("id")
    if mode == "update" and body_id is None:
        issues.append(Issue("required", "An update needs the resource's id", (f"{rtype}.id",)))
    if expected_id is not None and body_id is not None and body_id != expected_id:
        issues.append(
            Issue(
                "invalid", f"The id '{body_id}' is not the URL's '{expected_id}'", (f"{rtype}.id",)
            )
        )
    return issues


async def _delete_issues(ctx: Context, rtype: str) -> list[Issue]:
    rid = ctx.request.resource_id
    if rid is None:
        raise BadRequest("mode=delete is checked on an instance: [type]/[id]/$validate")
    current = await ctx.store.read(rtype, rid)
    if current is None or current.deleted:
        return [Issue("not-found", f"{rtype}/{rid} does not exist", severity="warning")]
    # No rule of this server prevents a delete (references are not enforced).
    return []
