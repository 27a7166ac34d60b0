"""`_include` and `_revinclude` (with `:iterate`) for a page of matches.

Mirrors `fhir_server.storage.sqlite.search_includes`: forward includes follow the
page's references, reverse includes find the resources referring to the page, and
`:iterate` repeats on what was just included, within the same limits.
See http://hl7.org/fhir/R4/search.html#include.
"""

from __future__ import annotations

from fhir_server.search.plan import IncludeSpec, SearchPlan
from fhir_server.storage.contracts import StoredVersion
from fhir_server.storage.mongo.documents import Document, stored_version
from fhir_server.storage.mongo.search_filter import Finder
from fhir_server.storage.mongo.search_query import any_of, has_element, operand
from fhir_server.storage.mongo.writes import Collection

__all__ = ["MAX_INCLUDED", "MAX_ROUNDS", "included"]

MAX_INCLUDED = 1000  # resources added to one page, whatever the include graph looks like
MAX_ROUNDS = 8  # iterations of `:iterate`

_NO_INDEX = {"idx": 0}


async def _fetch(resources: Collection, query: Document) -> list[StoredVersion]:
    docs = await resources.find(query, _NO_INDEX, sort=[("pos", 1)]).to_list(None)
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


async def included(
    tenant: str,
    resources: Collection,
    finder: Finder,
    plan: SearchPlan,
    matches: list[StoredVersion],
) -> list[StoredVersion]:
    """The resources the plan's includes add to `matches` (none of the matches repeated)."""
    seen = {(m.resource_type, m.id) for m in matches}
    result: list[StoredVersion] = []
    frontier = list(matches)
    for round_number in range(MAX_ROUNDS):
        specs = [s for s in plan.includes if round_number == 0 or s.iterate]
        new: list[StoredVersion] = []
        for spec in specs:
            step = (
                await _reverse(tenant, resources, spec, frontier)
                if spec.reverse
                else await _forward(tenant, resources, finder, spec, frontier)
            )
            for version in step:
                key = (version.resource_type, version.id)
                if key not in seen and len(result) + len(new) < MAX_INCLUDED:
                    seen.add(key)
                    new.append(version)
        if not new:
            break
        result += new
        frontier = new
    return result
