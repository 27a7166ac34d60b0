"""Patient $everything: http://hl7.org/fhir/R4/patient-operation-everything.html.

`Patient/[id]/$everything` returns the Patient and every resource in its compartment
(compartmentdefinition-patient.html: an Observation whose `subject` or `performer` is the
Patient, ...); `Patient/$everything` does so for all Patients. Resources the page refers to
outside the compartment (Practitioner, Organization, Location, Medication...) come along
as `include` entries, as the operation asks ("whatever resources are needed to support the
records"). `_since` keeps resources updated at or after an instant, `_type` keeps the
listed types, `_count` sets the page size; `next` links page through, type by type, with
an opaque cursor. `start` and `end` (care dates) are refused rather than ignored: a
client relying on them would otherwise get more PHI than it asked for.

Each type is searched through the ordinary search plan (one `AnyOf` over the type's
compartment references), so every storage backend supports it as it supports search.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import orjson

from fhir_server.errors import BadRequest, Gone, NotFound
from fhir_server.exchange import FhirResponse
from fhir_server.instants import is_instant, parse_fhir_datetime_range
from fhir_server.interactions.bundles import bundle_bytes, entry_bytes, link_url
from fhir_server.interactions.context import Context
from fhir_server.interactions.operation_params import single_value, values
from fhir_server.interactions.references import reference_holders
from fhir_server.resource_json import load_json
from fhir_server.resource_types import is_resource_type
from fhir_server.search.compartment import default_patient_compartment
from fhir_server.search.plan import (
    AnyOf,
    Bound,
    Condition,
    Cursor,
    IdCondition,
    LastUpdatedCondition,
    RangeMatch,
    ReferenceCondition,
    ReferenceMatch,
    SearchPlan,
)
from fhir_server.search.query import decode_cursor, encode_cursor
from fhir_server.storage.contracts import StoredVersion
from fhir_server.text import is_ascii_digits

__all__ = ["everything"]

_PAGE_PARAM = "_page"
_LITERAL = re.compile(r"([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})")
# Referenced resources fetched per page, at most: bounds the cost of a page.
MAX_INCLUDES = 200


async def everything(ctx: Context) -> FhirResponse:
    request = ctx.request
    if request.resource_type != "Patient" or request.version_id is not None:
        raise BadRequest(
            "$everything is invoked as Patient/[id]/$everything or Patient/$everything"
        )
    for refused in ("start", "end"):
        if values(ctx, refused):
            raise BadRequest(
                f"The parameter '{refused}' is not supported by this server's $everything",
                (refused,),
            )
    patient_id = request.resource_id
    if patient_id is not None:
        await _require_patient(ctx, patient_id)
    types = _types(ctx)
    since = _since(ctx)
    count = _count(ctx)
    start_type, cursor = _decode_page(single_value(ctx, _PAGE_PARAM), len(types))
    matches: list[StoredVersion] = []
    next_page: str | None = None
    for index in range(start_type, len(types)):
        remaining = count - len(matches)
        plan = SearchPlan(
            resource_type=types[index],
            conditions=_conditions(types[index], patient_id, since),
            count=remaining,
            cursor=cursor if index == start_type else None,
            total="none",
        )
        page = await ctx.store.search(plan)
        matches += page.matches
        if page.has_next and page.cursors:
            next_page = _encode_page(index, page.cursors[-1])
            break
        if len(matches) >= count:
            following = await _next_holding(ctx, types, index + 1, patient_id, since)
            next_page = None if following is None else _encode_page(following, None)
            break
    included = await _referenced(ctx, matches, since)
    return _bundle(ctx, matches, included, next_page)


async def _next_holding(
    ctx: Context, types: list[str], start: int, patient_id: str | None, since: int | None
) -> int | None:
    """The first of `types[start:]` with a resource to show, None if none has: a page that
    ends full at the end of a type links on only to a page that holds something (the next
    page's request would read these same types)."""
    for index in range(start, len(types)):
        plan = SearchPlan(
            resource_type=types[index],
            conditions=_conditions(types[index], patient_id, since),
            count=1,
            total="none",
        )
        if (await ctx.store.search(plan)).matches:
            return index
    return None


async def _require_patient(ctx: Context, patient_id: str) -> None:
    stored = await ctx.store.read("Patient", patient_id)
    if stored is None:
        raise NotFound(f"Patient/{patient_id} is not known")
    if stored.deleted:
        raise Gone(f"Patient/{patient_id} was deleted")


def _types(ctx: Context) -> list[str]:
    compartment = default_patient_compartment()
    known = sorted(compartment.resource_types - {"Patient"})
    everything_types = ["Patient", *known]
    wanted = _wanted_types(ctx)
    if not wanted:
        return everything_types
    # A type outside the compartment can only come along as a referenced resource.
    return [t for t in everything_types if t in set(wanted)]


def _wanted_types(ctx: Context) -> set[str]:
    wanted = {t.strip() for v in values(ctx, "_type") for t in str(v).split(",") if t.strip()}
    for name in wanted:
        if not is_resource_type(name):
            raise BadRequest(f"_type: '{name[:64]}' is not a resource type", ("_type",))
    return wanted


def _since(ctx: Context) -> int | None:
    text = single_value(ctx, "_since")
    if text is None:
        return None
    found = parse_fhir_datetime_range(str(text))
    if found is None or not is_instant(str(text)):
        raise BadRequest("_since must be an instant (date and time with a zone)", ("_since",))
    return found[0]


def _count(ctx: Context) -> int:
    settings = ctx.services.settings
    text = single_value(ctx, "_count")
    if text is None:
        return settings.default_page_size
    if not is_ascii_digits(str(text)) or int(text) < 1:
        raise BadRequest("_count must be a positive integer", ("_count",))
    return min(int(text), settings.max_page_size)


def _conditions(rtype: str, patient_id: str | None, since: int | None) -> tuple[Condition, ...]:
    params = default_patient_compartment().params_for(rtype)
    match = ReferenceMatch(target_type="Patient", target_id=patient_id)
    links: list[Condition] = [ReferenceCondition(p, (match,)) for p in params]
    conditions: list[Condition] = []
    if rtype == "Patient":
        if patient_id is not None:
            conditions.append(AnyOf((IdCondition((patient_id,)), *links)))
    else:
        conditions.append(AnyOf(tuple(links)))
    if since is not None:
        conditions.append(LastUpdatedCondition((RangeMatch((Bound("low", ">=", since),)),)))
    return tuple(conditions)


async def _referenced(
    ctx: Context, matches: list[StoredVersion], since: int | None
) -> list[StoredVersion]:
    """Resources outside the compartment that the page's resources refer to (of the
    `_type`s asked for, when `_type` is given)."""
    compartment_types = default_patient_compartment().resource_types | {"Patient"}
    wanted = _wanted_types(ctx)
    seen = {(m.resource_type, m.id) for m in matches}
    found: list[StoredVersion] = []
    for match in matches:
        assert match.body is not None
        resource: dict[str, Any] = load_json(match.body)
        for holder in reference_holders(resource):
            literal = _LITERAL.fullmatch(holder["reference"])
            if literal is None:
                continue
            key = (literal.group(1), literal.group(2))
            if key in seen or key[0] in compartment_types:
                continue
            seen.add(key)
            if wanted and key[0] not in wanted:
                continue
            stored = await ctx.store.read(*key)
            if stored is None or stored.deleted:
                continue
            if since is None or stored.last_updated_us >= since:
                found.append(stored)
            if len(found) >= MAX_INCLUDES:
                return found
    return found


def _encode_page(type_index: int, cursor: Cursor | None) -> str:
    raw = orjson.dumps({"t": type_index, "c": encode_cursor(cursor) if cursor else None})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_page(token: Any, type_count: int) -> tuple[int, Cursor | None]:
    if token is None:
        return 0, None
    try:
        text = str(token)
        data = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        index, inner = int(data["t"]), data["c"]
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        raise BadRequest("The paging token is not one this server issued", (_PAGE_PARAM,)) from exc
    if not 0 <= index <= type_count:
        raise BadRequest("The paging token is not one this server issued", (_PAGE_PARAM,))
    return index, decode_cursor(inner) if inner else None


def _bundle(
    ctx: Context, matches: list[StoredVersion], included: list[StoredVersion], next_page: str | None
) -> FhirResponse:
    request = ctx.request
    path = "/".join(p for p in ("Patient", request.resource_id, "$everything") if p)
    # from the URL or a POSTed Parameters body alike: the next page is a GET
    kept = [(k, str(v)) for k in ("_since", "_type", "_count") for v in values(ctx, k)]
    links = [("self", link_url(request.base_url, path, [(k, v) for k, v in request.params]))]
    if next_page is not None:
        links.append(("next", link_url(request.base_url, path, [*kept, (_PAGE_PARAM, next_page)])))
    entries = [_entry(request.base_url, m, "match") for m in matches]
    entries += [_entry(request.base_url, m, "include") for m in included]
    body = bundle_bytes("searchset", total=None, links=links, entries=entries)
    return FhirResponse(200, body, {}, "Patient", request.resource_id)


def _entry(base: str, stored: StoredVersion, mode: str) -> bytes:
    return entry_bytes(
        full_url=f"{base}/{stored.resource_type}/{stored.id}",
        resource=stored.body,
        search_mode=mode,
    )
