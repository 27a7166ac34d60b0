"""history at instance, type and system level: http://hl7.org/fhir/R4/http.html#history.

Newest first; `_since` (an instant), `_at` (a date: versions current at some moment of it),
`_count`, `_summary` and `_elements` (on each version, as in a search), and a `next` link
that pages by the history sequence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from fhir_server.errors import BadRequest, NotFound
from fhir_server.exchange import FhirResponse
from fhir_server.instants import format_instant, is_instant, parse_fhir_datetime_range
from fhir_server.interactions.bundles import bundle_bytes, entry_bytes, link_url
from fhir_server.interactions.context import Context
from fhir_server.interactions.responses import etag, representation_options, shape_resource
from fhir_server.interactions.search import strict_handling
from fhir_server.search.plan import Cursor
from fhir_server.search.query import CURSOR_PARAM, decode_cursor, encode_cursor
from fhir_server.storage.contracts import HistoryQuery, StoredVersion
from fhir_server.text import clamped_int, is_ascii_digits

__all__ = ["history"]

# What the interaction that made each version answered (a PUT of version 1, or of a
# deleted resource, created it).
_STATUS = {"POST": "201 Created", "PUT": "200 OK", "PATCH": "200 OK", "DELETE": "200 OK"}


# The parameters a history applies, repeated by its links as applied (the last of each),
# `_format` and `_pretty` with them for clients that follow the links as given.
_APPLIED = ("_since", "_at", "_count", "_summary", "_elements", "_format", "_pretty")
_KNOWN = frozenset((*_APPLIED, CURSOR_PARAM))


async def history(ctx: Context) -> FhirResponse:
    request = ctx.request
    if strict_handling(ctx):  # search.html#errors: else ignored, and left off the links
        unknown = next((k for k, _ in request.params if k not in _KNOWN), None)
        if unknown is not None:
            raise BadRequest(f"History takes no parameter '{unknown[:80]}'", (unknown[:80],))
    summary, elements = representation_options(request)
    query = _query(ctx)
    if summary == "count":
        query = replace(query, count=0)
    page = await ctx.store.history(query)
    rtype, rid = request.resource_type, request.resource_id
    if rtype is not None and rid is not None and not page.total:
        await _existed(ctx, rtype, rid)
    path = "/".join(p for p in (request.resource_type, request.resource_id, "_history") if p)
    applied = _applied(request.params, query.count, summary)
    own_cursor = [(k, v) for k, v in request.params if k == CURSOR_PARAM][-1:]
    links = [("self", link_url(request.base_url, path, [*applied, *own_cursor]))]
    if page.has_more and page.versions:
        token = encode_cursor(Cursor(page.versions[-1].position, "before"))
        links.append(("next", link_url(request.base_url, path, [*applied, (CURSOR_PARAM, token)])))
    entries = [
        _entry(request.base_url, version, version.position in page.revivals, summary, elements)
        for version in page.versions
    ]
    body = bundle_bytes("history", total=page.total, links=links, entries=entries)
    return FhirResponse(200, body, {}, request.resource_type, request.resource_id)


def _applied(
    params: Sequence[tuple[str, str]], count: int, summary: str | None
) -> list[tuple[str, str]]:
    """The parameters in force, as the links repeat them (the self link names only what was
    applied: search.html#self)."""
    applied = []
    for name in _APPLIED:
        value = next((v for k, v in reversed(params) if k == name), None)
        if value is not None:
            # a `_count` past the server's ceiling is served, and so linked, at the ceiling
            applied.append((name, str(count) if name == "_count" and summary != "count" else value))
    return applied


async def _existed(ctx: Context, rtype: str, rid: str) -> None:
    """An instance's history is empty only in a window (_since, _at, a page past the end):
    a resource that never existed has none to show (404, as a read answers)."""
    if await ctx.store.vread(rtype, rid, 1) is None:
        raise NotFound(f"{rtype}/{rid} is not known")


def _query(ctx: Context) -> HistoryQuery:
    request = ctx.request
    settings = ctx.services.settings
    count_text = request.param("_count")
    if count_text is not None and not is_ascii_digits(count_text):
        raise BadRequest(
            f"_count must be a non-negative integer, not '{count_text[:40]}'", ("_count",)
        )
    count = (
        clamped_int(count_text, settings.max_page_size)
        if count_text
        else settings.default_page_size
    )
    since = _instant(request.param("_since"), "_since")
    at = _range(request.param("_at"), "_at")
    cursor = decode_cursor(request.param(CURSOR_PARAM))
    return HistoryQuery(
        resource_type=request.resource_type,
        id=request.resource_id,
        since_us=since[0] if since else None,
        at_low_us=at[0] if at else None,
        at_high_us=at[1] if at else None,
        count=count,
        before_position=cursor.position if cursor else None,
    )


def _range(text: str | None, name: str) -> tuple[int, int] | None:
    if text is None:
        return None
    found = parse_fhir_datetime_range(text)
    if found is None:
        raise BadRequest(f"{name} must be a FHIR date or dateTime, not '{text[:60]}'", (name,))
    return found


def _instant(text: str | None, name: str) -> tuple[int, int] | None:
    found = _range(text, name)
    if found is not None and text is not None and not is_instant(text):
        raise BadRequest(f"{name} must be an instant (date and time with a zone)", (name,))
    return found


def _entry(
    base: str,
    version: StoredVersion,
    revival: bool,
    summary: str | None,
    elements: list[str] | None,
) -> bytes:
    """`revival`: the version brought a deleted resource back, and so was created."""
    url = f"{version.resource_type}/{version.id}"
    created = version.version == 1 or revival
    return entry_bytes(
        full_url=f"{base}/{url}",
        resource=None if version.body is None else shape_resource(version.body, summary, elements),
        request={
            "method": version.method,
            "url": version.resource_type if version.method == "POST" else url,
        },
        response={
            "status": "201 Created" if created else _STATUS.get(version.method, "200 OK"),
            "etag": etag(version.version),
            "lastModified": format_instant(version.last_updated_us),
        },
    )
