"""One step of `_include` or `_revinclude` (search.html#include), mirroring
`fhir_server.storage.sqlite.search_includes`: forward, the current resources the sources
refer to; reverse, the current resources referring to the sources.
`fhir_server.interactions.includes` iterates.
"""

from __future__ import annotations

from fhir_server.search.plan import Condition, IncludeSpec, SearchPlan
from fhir_server.storage.contracts import StoredVersion
from fhir_server.storage.mongo.documents import NO_INDEX, Document, stored_version
from fhir_server.storage.mongo.search_filter import Finder, plan_filter
from fhir_server.storage.mongo.search_page import CollectionFinder
from fhir_server.storage.mongo.search_query import any_of, has_element, operand
from fhir_server.storage.mongo.writes import Collection

__all__ = ["canonicals_held", "include_step"]


async def _fetch(resources: Collection, query: Document) -> list[StoredVersion]:
    docs = await resources.find(query, NO_INDEX, sort=[("pos", 1)]).to_list(None)
    return [stored_version(d, "pos") for d in docs]


async def _forward(
    tenant: str,
    resources: Collection,
    finder: Finder,
    spec: IncludeSpec,
    sources: list[StoredVersion],
) -> list[StoredVersion]:
    positions = [s.position for s in sources if s.resource_type == spec.source_type]
    if not positions:
        return []
    holders = {"tenant": tenant, "type": operand(spec.source_type), "pos": {"$in": positions}}
    targets: dict[str, list[str]] = {}
    for target_type, target_id in await finder.references(holders, spec.param):
        if spec.target_type is None or target_type == spec.target_type:
            targets.setdefault(target_type, []).append(target_id)
    if not targets:
        return []
    # Each branch names tenant and type itself, so each is one scan of (tenant, type, id).
    which = any_of(
        [
            {
                "tenant": tenant,
                "type": operand(t),
                "id": {"$in": [operand(i) for i in ids]},
                "deleted": False,
            }
            for t, ids in sorted(targets.items())
        ]
    )
    return await _fetch(resources, which)


async def _reverse(
    tenant: str, resources: Collection, spec: IncludeSpec, targets: list[StoredVersion]
) -> list[StoredVersion]:
    by_type: dict[str, list[str]] = {}
    for target in targets:
        if spec.target_type is None or spec.target_type == target.resource_type:
            by_type.setdefault(target.resource_type, []).append(target.id)
    found: list[StoredVersion] = []
    for target_type, ids in by_type.items():
        tests = {"ri": {"$in": [operand(i) for i in ids]}, "rt": operand(target_type)}
        query = {
            "tenant": tenant,
            "type": operand(spec.source_type),
            "deleted": False,
            **has_element("reference", spec.param, tests),
        }
        found += await _fetch(resources, query)
    return found


async def canonicals_held(
    tenant: str,
    resources: Collection,
    resource_type: str,
    param: str,
    condition: Condition,
    limit: int,
) -> list[tuple[str, str | None]]:
    """The distinct (url, version) canonicals of `param` held by the current
    `resource_type` resources satisfying `condition` (ResourceStore.canonicals)."""
    if limit <= 0:
        return []  # as SQLite's LIMIT 0; a server refuses `$limit: 0`
    plan = SearchPlan(resource_type, (condition,))
    holders = await plan_filter(tenant, plan, CollectionFinder(resources))
    pipeline: list[Document] = [
        {"$match": holders},
        {"$project": {"r": "$idx.r", "_id": 0}},
        {"$unwind": "$r"},
        # a query stage: the operand is a plain value here, never an expression
        {"$match": {"r.p": operand(param), "r.u": {"$ne": None}, "r.ri": None}},
        {"$group": {"_id": {"u": "$r.u", "v": "$r.rv"}}},
        {"$limit": limit},
    ]
    groups = await (await resources.aggregate(pipeline)).to_list(None)
    found = []
    for group in groups:
        version = group["_id"].get("v")
        found.append((str(group["_id"]["u"]), None if version is None else str(version)))
    return found


async def include_step(
    tenant: str,
    resources: Collection,
    spec: IncludeSpec,
    sources: list[StoredVersion],
) -> list[StoredVersion]:
    """One `_include` or `_revinclude` step (the iteration is the caller's)."""
    if spec.reverse:
        return await _reverse(tenant, resources, spec, sources)
    return await _forward(tenant, resources, CollectionFinder(resources), spec, sources)
