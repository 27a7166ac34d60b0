"""search (type level): http://hl7.org/fhir/R4/http.html#search and search.html.

Pages are addressed by an opaque cursor (the position after which the next page starts),
not an offset: walking `next` never repeats or skips a resource that existed when the walk
began, however many writes happen meanwhile, and a deep page costs what the first does.
"""

from __future__ import annotations

from fhir_server.exchange import FhirResponse
from fhir_server.interactions.bundles import bundle_bytes, entry_bytes, link_url
from fhir_server.interactions.context import Context
from fhir_server.interactions.responses import representation_options, shape_resource
from fhir_server.search.plan import Cursor, SearchPlan
from fhir_server.search.query import CURSOR_PARAM, QueryOptions, encode_cursor, parse_search
from fhir_server.search.registry import default_registry

__all__ = ["search_type"]

# Result-shaping parameters echoed in every paging link.
_ECHOED = ("_count", "_total", "_summary", "_elements")


def _strict(ctx: Context) -> bool:
    prefer = (ctx.request.header("prefer") or "").replace(" ", "").lower()
    return "handling=strict" in prefer


async def search_type(ctx: Context) -> FhirResponse:
    request = ctx.request
    rtype = request.resource_type
    assert rtype is not None
    settings = ctx.services.settings
    options = QueryOptions(settings.default_page_size, settings.max_page_size, _strict(ctx))
    plan = parse_search(rtype, request.params, default_registry(), options)
    summary, elements = representation_options(request)
    if summary == "count":
        plan = SearchPlan(rtype, plan.conditions, count=0, total="accurate")
    page = await ctx.store.search(plan)
    echoed = [(k, v) for k, v in request.params if k in _ECHOED]
    base_params = [*plan.applied_params, *echoed]
    links = [("self", link_url(request.base_url, rtype, _self_params(request.params, base_params)))]
    if page.has_next and page.matches:
        after = encode_cursor(Cursor(page.matches[-1].position, "after"))
        links.append(
            ("next", link_url(request.base_url, rtype, [*base_params, (CURSOR_PARAM, after)]))
        )
    if page.has_previous and page.matches:
        before = encode_cursor(Cursor(page.matches[0].position, "before"))
        links.append(
            ("previous", link_url(request.base_url, rtype, [*base_params, (CURSOR_PARAM, before)]))
        )
    entries = [
        entry_bytes(
            full_url=f"{request.base_url}/{match.resource_type}/{match.id}",
            resource=shape_resource(match.body, summary, elements) if match.body else None,
            search_mode="match",
        )
        for match in page.matches
    ]
    body = bundle_bytes("searchset", total=page.total, links=links, entries=entries)
    return FhirResponse(200, body, {}, rtype)


def _self_params(
    request_params: list[tuple[str, str]], base_params: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    cursor = [(k, v) for k, v in request_params if k == CURSOR_PARAM]
    return [*base_params, *cursor[-1:]]
