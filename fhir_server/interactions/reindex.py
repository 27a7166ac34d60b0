"""Reindexing a tenant: rebuild every current resource's search index with the tenant's
search parameters (R4's plus its active SearchParameter resources), then make that set the
tenant's own. Run by `fhir-server reindex` after changing the registry or adding custom
SearchParameters (http://hl7.org/fhir/R4/searchparameter.html).

Resources written while a reindex runs are indexed by their writer with the set in force
then, the old one, and servers go on reading the old set for up to SETTING_TTL_SECONDS
after the new one is stored. So once that delay has passed, a last pass reindexes every
resource written since the reindex began: when it returns, every resource is indexed
with the new set, and every later write uses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from fhir_server.instants import now_us
from fhir_server.interactions.index_format import record_current_format
from fhir_server.interactions.search_setup import (
    SETTING,
    SETTING_TTL_SECONDS,
    forget_setting,
    setup_from_parameters,
)
from fhir_server.interactions.writes import localized
from fhir_server.resource_json import dump, load_json
from fhir_server.search.indexer import Indexer
from fhir_server.search.plan import (
    Bound,
    LastUpdatedCondition,
    RangeMatch,
    SearchPlan,
    TokenCondition,
    TokenMatch,
)
from fhir_server.storage.contracts import ResourceStore, StoredVersion

__all__ = ["ReindexReport", "reindex_tenant"]

BATCH = 500
# Beyond SETTING_TTL_SECONDS, for a write that read the old set just before it expired to
# commit.
SETTLE_SECONDS = 0.5


@dataclass(slots=True)
class ReindexReport:
    resources: int = 0
    skipped: int = 0  # changed while the reindex ran: the last pass indexes them
    custom_parameters: list[str] = field(default_factory=list)


async def _active_search_parameters(store: ResourceStore) -> list[dict[str, Any]]:
    active = TokenCondition("status", (TokenMatch(None, "active", False),))
    found = []
    async for version in _walk(
        store, SearchPlan("SearchParameter", (active,), count=BATCH, total="none")
    ):
        if version.body is not None:
            found.append(load_json(version.body))
    return found


async def _walk(store: ResourceStore, plan: SearchPlan) -> AsyncIterator[StoredVersion]:
    while True:
        page = await store.search(plan)
        for match in page.matches:
            yield match
        if not page.has_next or not page.cursors:
            return
        plan = replace(plan, cursor=page.cursors[-1])


async def reindex_tenant(
    store: ResourceStore,
    progress: Callable[[int, int], None] | None = None,
    tenant_base: str | None = None,
) -> ReindexReport:
    """Reindex every current resource; `progress(done, total)` after each batch. With
    `tenant_base` (the tenant's public FHIR base), references written as absolute URLs
    under it are indexed as local ones, as the server does on writes."""
    started_us = now_us()
    parameters = await _active_search_parameters(store)
    setup = setup_from_parameters(parameters)
    report = ReindexReport(custom_parameters=[str(p.get("code")) for p in parameters])
    counted = await store.search(SearchPlan(None, count=0, total="accurate"))
    total = counted.total or 0
    async for version in _walk(store, SearchPlan(None, count=BATCH, total="none")):
        await _reindex_one(store, setup.indexer, version, report, tenant_base)
        if progress is not None and report.resources % BATCH == 0:
            progress(report.resources, total)
    await store.write_setting(SETTING, dump(parameters))
    forget_setting(store)
    await asyncio.sleep(SETTING_TTL_SECONDS + SETTLE_SECONDS)
    since = LastUpdatedCondition((RangeMatch((Bound("low", ">=", started_us),)),))
    caught_up = ReindexReport()  # not reported: these were counted (or skipped) above
    async for version in _walk(store, SearchPlan(None, (since,), count=BATCH, total="none")):
        await _reindex_one(store, setup.indexer, version, caught_up, tenant_base)
    await record_current_format(store)
    if progress is not None:
        progress(report.resources, total)
    return report


async def _reindex_one(
    store: ResourceStore,
    indexer: Indexer,
    version: StoredVersion,
    report: ReindexReport,
    tenant_base: str | None,
) -> None:
    assert version.body is not None
    entries = indexer.index(load_json(version.body))
    if tenant_base is not None:
        entries = localized(entries, tenant_base)
    if await store.replace_index(version.resource_type, version.id, version.version, entries):
        report.resources += 1
    else:
        report.skipped += 1
