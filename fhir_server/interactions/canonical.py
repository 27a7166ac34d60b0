"""Canonical references for `_include`, `_revinclude`, chains and `_has`
(references.html#canonical, search.html#include).

A canonical (`QuestionnaireResponse.questionnaire = "http://ex.org/Q/1|2.0"`) names its
target by the target's own `url` and `version`, which may be written before or after the
reference, so the reference index keeps the url and version, not a target type and id, and
the store's joins by id never meet the target. They are resolved here, at search time,
through plain searches every backend answers:
- `_include`: the targets whose `url` and `version` the sources' canonicals give, or,
  when a canonical names no version, the latest written resource of that url;
- `_revinclude`: the sources whose canonical names a target: its url and version, or its
  url alone when the target is the latest of that url;
- a chain or `_has` through such a parameter, at any depth: its far side is resolved
  first (at most MAX_RESOLVED resources, or distinct canonicals for `_has`), and the
  condition becomes "the original, or a canonical naming one of those".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import orjson

from fhir_server.errors import BadRequest
from fhir_server.interactions.context import Context
from fhir_server.search.cardinality import may_hold_canonical
from fhir_server.search.plan import (
    AllOf,
    AnyOf,
    ChainCondition,
    Condition,
    HasCondition,
    IdCondition,
    IncludeSpec,
    ReferenceCondition,
    ReferenceMatch,
    SearchPlan,
    SortKey,
    TokenCondition,
    TokenMatch,
    UriCondition,
)
from fhir_server.storage.contracts import StoredVersion

__all__ = ["MAX_RESOLVED", "canonical_includes", "with_canonical_conditions"]

# The far side of a chain or `_has` through a canonical, resolved before the search: more
# than this is a 400 (the condition it becomes holds up to two values per resource found:
# its url and version, and its url alone when it is the latest).
MAX_RESOLVED = 200
# Canonicals looked up in one search of `_referring`: pages of sources stay small.
_CHUNK = 50

Canonical = tuple[str, str | None]  # (url, version)


def _holds_canonical(ctx: Context, resource_type: str, param: str) -> bool:
    definition = ctx.registry.get(resource_type, param)
    return (
        definition is not None
        and definition.type == "reference"
        and may_hold_canonical(definition.expression, resource_type)
    )


def _own_canonical(version: StoredVersion) -> Canonical | None:
    """A canonical resource's own (url, version)."""
    if version.body is None:
        return None
    body: Any = orjson.loads(version.body)
    url, number = body.get("url"), body.get("version")
    if not isinstance(url, str) or not url:
        return None
    return url, number if isinstance(number, str) and number else None


async def _all(
    ctx: Context, resource_type: str, conditions: Sequence[Condition], cap: int
) -> list[StoredVersion]:
    """Up to `cap` current resources of `resource_type` matching every condition."""
    plan = SearchPlan(resource_type, tuple(conditions), count=cap, total="none")
    return (await ctx.store.search(plan)).matches


def _has_url(ctx: Context, resource_type: str) -> bool:
    found = ctx.registry.get(resource_type, "url")
    return found is not None and found.type == "uri"


async def _targets(
    ctx: Context, types: Iterable[str], canonicals: set[Canonical], cap: int
) -> list[StoredVersion]:
    """The resources of `types` the canonicals name: with a version, the resources of that
    url and version; without, the latest written of that url (references.html#canonical:
    a canonical without a version means the current one)."""
    found: list[StoredVersion] = []
    any_version = [url for url, number in canonicals if number is None]
    versioned = sorted((url, number) for url, number in canonicals if number is not None)
    for rtype in sorted(t for t in set(types) if _has_url(ctx, t)):
        found += (await _latest(ctx, rtype, any_version)).values()
        for url, number in versioned:
            found += await _all(ctx, rtype, [UriCondition("url", (url,)), _version(number)], cap)
    return found


def _version(number: str) -> TokenCondition:
    return TokenCondition("version", (TokenMatch(None, number, False),))


_NEWEST_FIRST = (SortKey("_lastUpdated", "resource", "last_updated_us", descending=True),)


async def _latest(ctx: Context, rtype: str, urls: Iterable[str]) -> dict[str, StoredVersion]:
    """The latest written `rtype` resource of each url: what a canonical naming no version
    refers to. One search per url, newest first, one resource read."""
    latest: dict[str, StoredVersion] = {}
    for url in sorted(set(urls)):
        plan = SearchPlan(
            rtype, (UriCondition("url", (url,)),), 1, total="none", sort=_NEWEST_FIRST
        )
        found = (await ctx.store.search(plan)).matches
        if found:
            latest[url] = found[0]
    return latest


async def _references_naming(
    ctx: Context, rtype: str, targets: Sequence[StoredVersion]
) -> set[ReferenceMatch]:
    """The canonical references that name one of `targets` (of `rtype`): its url and
    version, and its url alone when it is the latest of that url."""
    urls = [own[0] for t in targets if (own := _own_canonical(t)) is not None]
    latest = await _latest(ctx, rtype, urls)
    matches = set()
    for target in targets:
        own = _own_canonical(target)
        if own is None:
            continue
        url, number = own
        if number is not None:
            matches.add(ReferenceMatch(url=url, version=number))
        newest = latest.get(url)
        if newest is not None and (newest.resource_type, newest.id) == (
            target.resource_type,
            target.id,
        ):
            matches.add(ReferenceMatch(url=url, unversioned=True))
    return matches


async def canonical_includes(
    ctx: Context, spec: IncludeSpec, frontier: Sequence[StoredVersion], cap: int
) -> list[StoredVersion]:
    """What `spec` adds to `frontier` through canonicals (the store adds what literal
    references name); [] when its parameter holds none."""
    if not _holds_canonical(ctx, spec.source_type, spec.param):
        return []
    if spec.reverse:
        return await _referring(ctx, spec, frontier, cap)
    ids = tuple(sorted({s.id for s in frontier if s.resource_type == spec.source_type}))
    if not ids:
        return []
    held = await ctx.store.canonicals(spec.source_type, spec.param, IdCondition(ids), cap)
    definition = ctx.registry.get(spec.source_type, spec.param)
    named_types = definition.target if definition is not None else ()
    types = [spec.target_type] if spec.target_type else list(named_types)
    return await _targets(ctx, types, set(held), cap)


async def _referring(
    ctx: Context, spec: IncludeSpec, targets: Sequence[StoredVersion], cap: int
) -> list[StoredVersion]:
    """The `spec.source_type` resources whose canonical names one of `targets`: its url
    and version, or its url alone when it is the latest of that url."""
    named: set[ReferenceMatch] = set()
    by_type: dict[str, list[StoredVersion]] = {}
    for target in targets:
        if spec.target_type in (None, target.resource_type) and _has_url(ctx, target.resource_type):
            by_type.setdefault(target.resource_type, []).append(target)
    for rtype, group in sorted(by_type.items()):
        named |= await _references_naming(ctx, rtype, group)
    found: list[StoredVersion] = []
    ordered = sorted(named, key=_by_canonical)
    for start in range(0, len(ordered), _CHUNK):
        condition = ReferenceCondition(spec.param, tuple(ordered[start : start + _CHUNK]))
        found += await _all(ctx, spec.source_type, [condition], cap)
    return found


async def with_canonical_conditions(ctx: Context, plan: SearchPlan) -> SearchPlan:
    """`plan` with each chain or `_has` through a canonical parameter, at any depth,
    widened to the canonicals of its resolved far side."""
    rtype = plan.resource_type
    if rtype is None:
        return plan
    conditions = tuple([await _widened(ctx, rtype, c) for c in plan.conditions])
    return plan if conditions == plan.conditions else replace(plan, conditions=conditions)


async def _widened(ctx: Context, rtype: str, condition: Condition) -> Condition:
    match condition:
        case AnyOf(parts):
            return AnyOf(tuple([await _widened(ctx, rtype, c) for c in parts]))
        case AllOf(parts):
            return AllOf(tuple([await _widened(ctx, rtype, c) for c in parts]))
        case ChainCondition():
            return await _widened_chain(ctx, rtype, condition)
        case HasCondition():
            return await _widened_has(ctx, rtype, condition)
    return condition


async def _widened_chain(ctx: Context, rtype: str, chain: ChainCondition) -> Condition:
    """The chain with its inner conditions widened; through a canonical parameter, also
    "or a canonical to the url of a resource the rest of the chain finds". Such a chain is
    always an AnyOf, found or not, so that its pages are walked alike (their cursors fit)."""
    inners = [await _widened(ctx, t, chain.condition) for t in chain.target_types]
    if len(set(inners)) == 1:
        widened: Condition = replace(chain, condition=inners[0])
    else:
        per_type = zip(chain.target_types, inners, strict=True)
        widened = AnyOf(tuple(replace(chain, target_types=(t,), condition=c) for t, c in per_type))
    if not _holds_canonical(ctx, rtype, chain.param):
        return widened
    named: set[ReferenceMatch] = set()
    found = 0
    for target_type, inner in zip(chain.target_types, inners, strict=True):
        if _has_url(ctx, target_type):
            targets = await _all(ctx, target_type, [inner], MAX_RESOLVED + 1)
            found += len(targets)
            _refuse_too_many(found, f"the chain through '{chain.param}'")
            named |= await _references_naming(ctx, target_type, targets)
    if not named:
        return AnyOf((widened,))
    ordered = tuple(sorted(named, key=_by_canonical))
    return AnyOf((widened, ReferenceCondition(chain.param, ordered)))


async def _widened_has(ctx: Context, rtype: str, has: HasCondition) -> Condition:
    """`_has` with its inner condition widened; through a canonical parameter that may
    name `rtype`, also "or its url is one the matching sources' canonicals name"."""
    inner = await _widened(ctx, has.source_type, has.condition)
    widened = has if inner == has.condition else replace(has, condition=inner)
    definition = ctx.registry.get(has.source_type, has.param)
    if (
        definition is None
        or rtype not in definition.target
        or not _holds_canonical(ctx, has.source_type, has.param)
        or not _has_url(ctx, rtype)
    ):
        return widened
    held = await ctx.store.canonicals(has.source_type, has.param, inner, MAX_RESOLVED + 1)
    _refuse_too_many(len(held), f"_has:{has.source_type}:{has.param}")
    named: list[Condition] = [
        AllOf((UriCondition("url", (url,)), _version(number)))
        for url, number in sorted(held, key=lambda c: (c[0], c[1] or ""))
        if number is not None
    ]
    latest = await _latest(ctx, rtype, [url for url, number in held if number is None])
    if latest:
        named.append(IdCondition(tuple(sorted(r.id for r in latest.values()))))
    return AnyOf((widened, *named))


def _by_canonical(match: ReferenceMatch) -> tuple[str, str, bool]:
    """A stable order for a condition's values (its SQL, and so its cursors, stay alike)."""
    return match.url or "", match.version or "", match.unversioned


def _refuse_too_many(found: int, what: str) -> None:
    if found > MAX_RESOLVED:
        raise BadRequest(
            f"{what} reaches canonical resources, and more than {MAX_RESOLVED} of them "
            "match; narrow its condition"
        )
