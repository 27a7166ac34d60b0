"""read and vread: http://hl7.org/fhir/R4/http.html#read and #vread.

The hot path: the stored JSON bytes go out as they are; no model, no re-serialization
(unless `_summary` or `_elements` asks for a subset).
"""

from __future__ import annotations

from fhir_server.errors import Gone, NotFound
from fhir_server.exchange import FhirResponse
from fhir_server.instants import last_modified
from fhir_server.interactions.context import Context
from fhir_server.interactions.responses import etag, resource_response
from fhir_server.text import version_number

__all__ = ["read", "vread"]


async def read(ctx: Context) -> FhirResponse:
    request = ctx.request
    rtype, rid = request.resource_type, request.resource_id
    assert rtype is not None and rid is not None
    stored = await ctx.store.read(rtype, rid)
    if stored is None:
        raise NotFound(f"{rtype}/{rid} is not known")
    if stored.deleted:
        raise Gone(
            f"{rtype}/{rid} was deleted",
            headers={
                "ETag": etag(stored.version),
                "Last-Modified": last_modified(stored.last_updated_us),
            },
        )
    if _client_copy_is_current(request.header("if-none-match"), stored.version):
        return FhirResponse(304, None, {"ETag": etag(stored.version)}, rtype, rid)
    return resource_response(request, stored, honour_prefer=False)


async def vread(ctx: Context) -> FhirResponse:
    request = ctx.request
    rtype, rid, vid = request.resource_type, request.resource_id, request.version_id
    assert rtype is not None and rid is not None and vid is not None
    number = version_number(vid)
    stored = await ctx.store.vread(rtype, rid, number) if number is not None else None
    if stored is None:
        raise NotFound(f"{rtype}/{rid} has no version '{vid}'")
    if stored.deleted:
        raise Gone(
            f"Version {vid} of {rtype}/{rid} is a deletion", headers={"ETag": etag(stored.version)}
        )
    return resource_response(request, stored, honour_prefer=False)


def _client_copy_is_current(if_none_match: str | None, version: int) -> bool:
    """Whether `If-None-Match` (RFC 9110 13.1.2, weak comparison) names the current
    version, or is `*`: the client's copy is current (304)."""
    if if_none_match is None:
        return False
    current = f'"{version}"'
    return any(
        tag == "*" or tag.removeprefix("W/") == current
        for tag in (part.strip() for part in if_none_match.split(","))
    )
