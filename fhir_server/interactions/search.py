"""search at type, system and compartment level: http://hl7.org/fhir/R4/http.html#search,
search.html and compartmentdefinition.html#search.

Pages are addressed by an opaque cursor (the last match's place in the result order), not
an offset: walking `next` never repeats or skips a resource that existed when the walk
began, and a deep page costs what the first does.
"""

from __future__ import annotations

from dataclasses import replace

from fhir_server.errors import BadRequest, ExpiredPaging, NotFound
from fhir_server.exchange import FhirRequest, FhirResponse
from fhir_server.interactions.bundles import bundle_bytes, entry_bytes, link_url
from fhir_server.interactions.canonical import with_canonical_conditions
from fhir_server.interactions.context import Context
from fhir_server.interactions.includes import MAX_INCLUDED, MAX_ROUNDS, included
from fhir_server.interactions.responses import representation_options, shape_resource
from fhir_server.interactions.writes import index_entries
from fhir_server.resource_json import dump, load_json
from fhir_server.routing import EVERY_TYPE
from fhir_server.search.compartment import default_patient_compartment
from fhir_server.search.engine import SearchExpressionError
from fhir_server.search.entries import IndexEntry
from fhir_server.search.plan import (
    AnyOf,
    Condition,
    IdCondition,
    ReferenceCondition,
    ReferenceMatch,
    SearchPlan,
    TypeCondition,
)
from fhir_server.search.query import CURSOR_PARAM, QueryOptions, encode_cursor, parse_search
from fhir_server.storage.contracts import (
    InvalidCursor,
    PagingExpired,
    PastIndex,
    SearchPage,
    StoredVersion,
)

__all__ = ["search", "strict_handling"]

# The longest next or previous link a search may need: the HTTP layer refuses request
# lines from ~64 KiB, so a longer link could never be followed.
MAX_LINK_LENGTH = 32_768

# Parameters that shape the result, kept on every link as applied: the last of each
# single-valued one (the one in force), every include; `_format` and `_pretty` too, for
# clients that cannot set Accept (http.html#mime-type) and follow the links as given.
_ECHOED_LAST = ("_count", "_total", "_summary", "_elements", "_sort", "_format", "_pretty")
_ECHOED_ALL = ("_include", "_revinclude", "_include:iterate", "_revinclude:iterate", "_type")


def strict_handling(ctx: Context) -> bool:
    prefer = (ctx.request.header("prefer") or "").replace(" ", "").lower()
    return "handling=strict" in prefer


def _options(ctx: Context) -> QueryOptions:
    settings = ctx.services.settings
    return QueryOptions(
        settings.default_page_size,
        settings.max_page_size,
        strict_handling(ctx),
        base_url=ctx.request.base_url,
    )


async def search(ctx: Context) -> FhirResponse:
    """Type search (`/Type?`), system search (`/?_type=`) and compartment search
    (`/Patient/123/Type?`, or `/Patient/123/*` over every type it holds; routed with the
    compartment in `compartment`)."""
    request = ctx.request
    rtype = request.resource_type
    compartment = request.compartment
    target = compartment[2] if compartment else rtype
    if target == EVERY_TYPE:
        target = None  # `Patient/123/*`: a system search over the compartment's types
    plan = parse_search(target, request.params, ctx.registry, _options(ctx))
    if compartment is not None:
        plan = _in_compartment(plan, compartment[0], compartment[1])
    plan = await with_canonical_conditions(ctx, plan)
    summary, elements = representation_options(request)
    if summary == "count":
        plan = replace(plan, count=0, total="accurate")
    try:
        page = await ctx.store.search(plan, _past_index(ctx))
    except InvalidCursor as exc:
        raise BadRequest("The paging cursor is not one this server issued", ("_cursor",)) from exc
    except PagingExpired as exc:
        raise ExpiredPaging(
            "Too many of the resources this search pages through changed since its first "
            "page to serve them as they stood then: search again from the first page"
        ) from exc
    path = "/".join(compartment) if compartment else (rtype or "")
    extra, complete = (
        await included(ctx, plan.includes, page.matches) if plan.includes else ([], True)
    )
    body = _bundle(ctx, plan, page, extra, path, summary, elements, complete)
    return FhirResponse(200, body, {}, target)


def _past_index(ctx: Context) -> PastIndex:
    """How the store indexes a version of the past, to page in value order by where
    resources stood when the walk began: as writes index (`index_entries`)."""

    def entries(version: StoredVersion) -> list[IndexEntry]:
        if version.body is None:
            return []
        try:
            return index_entries(ctx, load_json(version.body))
        except SearchExpressionError:
            return []  # a custom parameter that fails on it: indexed without, as writes do

    return entries


def _in_compartment(plan: SearchPlan, ctype: str, cid: str) -> SearchPlan:
    """Only resources in Patient/{cid}'s compartment (compartmentdefinition-patient); over
    every type it holds (`*`, or those of `_type` among them), each by its own parameters."""
    if ctype != "Patient":
        raise NotFound(f"Compartment search is supported for Patient, not {ctype}")
    rtype = plan.resource_type
    if rtype is not None:
        return replace(plan, conditions=(_membership(rtype, cid), *plan.conditions))
    held = default_patient_compartment().resource_types | {"Patient"}
    types = sorted(t for t in held if not plan.types or t in plan.types)
    if not types:
        raise BadRequest("None of the types of _type is ever in a Patient compartment")
    membership = AnyOf(tuple(TypeCondition(t, _membership(t, cid)) for t in types))
    return replace(plan, conditions=(membership, *plan.conditions), types=tuple(types))


def _membership(rtype: str, cid: str) -> Condition:
    params = default_patient_compartment().params_for(rtype)
    if rtype == "Patient":
        return AnyOf((IdCondition((cid,)), *_refs(params, cid)))
    if not params:
        raise BadRequest(f"{rtype} is never in a Patient compartment")
    return AnyOf(tuple(_refs(params, cid)))


def _refs(params: tuple[str, ...], cid: str) -> list[ReferenceCondition]:
    match = ReferenceMatch(target_type="Patient", target_id=cid)
    return [ReferenceCondition(p, (match,)) for p in params]


def _bundle(
    ctx: Context,
    plan: SearchPlan,
    page: SearchPage,
    extra: list[StoredVersion],
    path: str,
    summary: str | None,
    elements: list[str] | None,
    includes_complete: bool = True,
) -> bytes:
    request = ctx.request
    base_params = [*plan.applied_params, *_echoed(request, plan, summary)]
    own_cursor = [(k, v) for k, v in request.params if k == CURSOR_PARAM][-1:]
    links = [("self", link_url(request.base_url, path, [*base_params, *own_cursor]))]
    if page.has_next and page.cursors:
        after = encode_cursor(page.cursors[-1])
        links.append(
            ("next", link_url(request.base_url, path, [*base_params, (CURSOR_PARAM, after)]))
        )
    if page.has_previous and page.cursors:
        first = page.cursors[0]
        before = encode_cursor(replace(first, direction="before"))
        links.append(
            ("previous", link_url(request.base_url, path, [*base_params, (CURSOR_PARAM, before)]))
        )
    paging = [url for relation, url in links if relation != "self"]
    if any(len(url) > MAX_LINK_LENGTH for url in paging):
        raise BadRequest(
            f"This search is too long to page through: its links would pass "
            f"{MAX_LINK_LENGTH:,} characters, more than a request line may hold. Shorten the "
            "criteria, or ask for a page that holds every match (_count)"
        )
    entries = [_entry(request.base_url, m, "match", summary, elements) for m in page.matches]
    entries += [_entry(request.base_url, m, "include", summary, elements) for m in extra]
    if not includes_complete:
        entries.append(_INCLUDES_CUT)
    return bundle_bytes("searchset", total=page.total, links=links, entries=entries)


# search.html#errors: a warning about the search itself is an OperationOutcome entry with
# search.mode `outcome`
_INCLUDES_CUT = entry_bytes(
    full_url=None,
    resource=dump(
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "warning",
                    "code": "incomplete",
                    "diagnostics": (
                        f"Included resources stop at {MAX_INCLUDED:,} per page (and :iterate "
                        f"at {MAX_ROUNDS} rounds): some were left out. A smaller _count "
                        "brings them all, page by page"
                    ),
                }
            ],
        }
    ),
    search_mode="outcome",
)


def _echoed(request: FhirRequest, plan: SearchPlan, summary: str | None) -> list[tuple[str, str]]:
    """The result parameters in force, as the links repeat them (search.html#self: the
    parameters actually used)."""
    echoed = []
    for name in _ECHOED_LAST:
        value = next((v for k, v in reversed(request.params) if k == name), None)
        if value is not None:
            # a `_count` past the server's ceiling is served, and so linked, at the ceiling
            applied = str(plan.count) if name == "_count" and summary != "count" else value
            echoed.append((name, applied))
    for name, value in request.params:
        if name in _ECHOED_ALL and not (name == "_type" and request.resource_type):
            echoed.append((name, value))
    return echoed


def _entry(
    base: str, match: StoredVersion, mode: str, summary: str | None, elements: list[str] | None
) -> bytes:
    full_url = f"{base}/{match.resource_type}/{match.id}"
    if match.body is None:
        return entry_bytes(full_url=full_url, resource=None, search_mode=mode)
    # The common case spelled out: a page of 700 includes spent 5 us per entry assembling
    # it part by part.
    return b"".join(
        (
            b'{"fullUrl":',
            dump(full_url),
            b',"resource":',
            shape_resource(match.body, summary, elements),
            _MODE_TAIL[mode],
        )
    )


_MODE_TAIL = {
    mode: b',"search":{"mode":"' + mode.encode() + b'"}}' for mode in ("match", "include")
}
