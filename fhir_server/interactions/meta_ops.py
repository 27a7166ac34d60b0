"""$meta, $meta-add and $meta-delete: http://hl7.org/fhir/R4/resource-operations.html#meta.

On an instance (`[type]/[id]/$meta`) or one of its versions (`.../_history/[vid]/$meta`).
`$meta-add` and `$meta-delete` take a `meta` parameter; profiles are matched by URL, tags
and security labels by system and code (version and display are ignored). As R4 says,
they create no new version: the version named is changed in place (a historical one too),
so `versionId` and `lastUpdated` stay as they were. The summary of all meta in use at
type or system level is not offered (it would scan every resource); it is refused with a
clear outcome.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import (
    BadRequest,
    Conflict,
    Gone,
    InvalidResource,
    NotFound,
)
from fhir_server.exchange import FhirResponse
from fhir_server.interactions.context import Context
from fhir_server.interactions.operation_params import parameter_parts
from fhir_server.interactions.writes import WRITE_ATTEMPTS, contention_pause, index_entries
from fhir_server.resource_json import dump, load_json
from fhir_server.storage.contracts import StoredVersion, VersionConflict, WriteOp
from fhir_server.text import version_number

__all__ = ["meta", "meta_add", "meta_delete"]

_CODED = ("tag", "security")


class MetaScopeUnsupported(BadRequest):
    code = "not-supported"


async def meta(ctx: Context) -> FhirResponse:
    stored, _ = await _target(ctx)
    assert stored.body is not None
    return _answer(ctx, load_json(stored.body).get("meta") or {})


async def meta_add(ctx: Context) -> FhirResponse:
    return await _change(ctx, add=True)


async def meta_delete(ctx: Context) -> FhirResponse:
    return await _change(ctx, add=False)


async def _target(ctx: Context) -> tuple[StoredVersion, StoredVersion]:
    """The version named (current unless a vid is given), and the current version."""
    request = ctx.request
    rtype, rid, vid = request.resource_type, request.resource_id, request.version_id
    if rtype is None or rid is None:
        raise MetaScopeUnsupported(
            f"${request.operation} works on one resource: [type]/[id]/${request.operation}"
        )
    current = await ctx.store.read(rtype, rid)
    if current is None:
        raise NotFound(f"{rtype}/{rid} is not known")
    if vid is None:
        if current.deleted:
            raise Gone(f"{rtype}/{rid} was deleted")
        return current, current
    number = version_number(vid)
    stored = await ctx.store.vread(rtype, rid, number) if number is not None else None
    if stored is None:
        raise NotFound(f"{rtype}/{rid} has no version '{vid}'")
    if stored.deleted:
        raise Gone(f"Version {vid} of {rtype}/{rid} is a deletion")
    return stored, current


def _given_meta(ctx: Context) -> dict[str, Any]:
    if ctx.request.method != "POST":
        raise BadRequest(f"${ctx.request.operation} is invoked with POST")
    parts = parameter_parts(ctx, "meta")
    if len(parts) != 1 or not isinstance(parts[0].get("valueMeta"), dict):
        raise BadRequest("Send a Parameters body with exactly one 'meta' (valueMeta)", ("meta",))
    assert ctx.request.body is not None
    issues = ctx.services.validate(ctx.request.body)  # a malformed Meta is refused as sent
    if issues:
        first = issues[0]
        raise InvalidResource(first.diagnostics, first.expression, extra_issues=issues[1:])
    given: dict[str, Any] = parts[0]["valueMeta"]
    return given


async def _change(ctx: Context, *, add: bool) -> FhirResponse:
    given = _given_meta(ctx)
    for attempt in range(WRITE_ATTEMPTS):
        stored, current = await _target(ctx)
        assert stored.body is not None
        resource: dict[str, Any] = load_json(stored.body)
        merged = _merged(resource.get("meta") or {}, given, add=add)
        if merged == (resource.get("meta") or {}):
            return _answer(ctx, merged)  # nothing to add or remove: nothing written
        resource["meta"] = merged
        issues = ctx.services.validate(resource)
        if issues:
            first = issues[0]
            raise InvalidResource(first.diagnostics, first.expression, extra_issues=issues[1:])
        is_current = stored.version == current.version
        op = WriteOp(
            resource_type=stored.resource_type,
            id=stored.id,
            expected_version=current.version,
            version=stored.version,
            last_updated_us=stored.last_updated_us,
            method=stored.method,
            body=dump(resource),
            index=index_entries(ctx, resource) if is_current else (),
            in_place=True,
        )
        try:
            await ctx.store.commit([op])
        except VersionConflict:
            await contention_pause(attempt)
            continue  # changed meanwhile: merge again into what is now there
        return _answer(ctx, merged)
    raise Conflict("The resource is being changed by others; try again")


def _merged(existing: dict[str, Any], given: dict[str, Any], *, add: bool) -> dict[str, Any]:
    result = dict(existing)
    profiles = [p for p in existing.get("profile") or [] if isinstance(p, str)]
    named = [p for p in given.get("profile") or [] if isinstance(p, str)]
    if add:
        profiles += [p for p in dict.fromkeys(named) if p not in profiles]
    else:
        profiles = [p for p in profiles if p not in named]
    _set(result, "profile", profiles)
    for key in _CODED:
        codings = [c for c in existing.get(key) or [] if isinstance(c, dict)]
        wanted = [c for c in given.get(key) or [] if isinstance(c, dict)]
        keys = {_identity(c) for c in wanted}
        if add:
            present = {_identity(c) for c in codings}
            for coding in wanted:
                if _identity(coding) not in present:
                    codings.append(coding)
                    present.add(_identity(coding))
        else:
            codings = [c for c in codings if _identity(c) not in keys]
        _set(result, key, codings)
    return result


def _identity(coding: dict[str, Any]) -> tuple[Any, Any]:
    return coding.get("system"), coding.get("code")


def _set(meta: dict[str, Any], key: str, items: list[Any]) -> None:
    if items:
        meta[key] = items
    else:
        meta.pop(key, None)  # FHIR JSON has no empty arrays


def _answer(ctx: Context, meta_value: dict[str, Any]) -> FhirResponse:
    parameters = {
        "resourceType": "Parameters",
        "parameter": [{"name": "return", "valueMeta": meta_value}],
    }
    request = ctx.request
    return FhirResponse(200, dump(parameters), {}, request.resource_type, request.resource_id)
