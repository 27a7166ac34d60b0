"""On a real MongoDB server: the query shapes added for `Patient/{id}/*` (TypeCondition
branches), unversioned canonicals (`rv: null` in the reference `$elemMatch`) and
`store.canonicals` (the canonicals_held aggregation) read an index, and every index scan
they make is bounded to the one tenant (its `tenant` bounds are a single point: a branch
of an `$or` that lost the outer `tenant` would scan every tenant's keys).

Meant to sit next to tests/contract/test_mongo_explain.py (reuses its fixture and
helpers); runs only when FHIR_TEST_MONGODB_URI names a server.
"""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.interactions.search import _in_compartment
from fhir_server.search.plan import (
    IdCondition,
    ReferenceCondition,
    ReferenceMatch,
    SearchPlan,
    TokenCondition,
    TokenMatch,
)
from fhir_server.search.query import QueryOptions, parse_search
from fhir_server.search.registry import default_registry
from fhir_server.storage.mongo import MongoStoreProvider
from fhir_server.storage.mongo.search_includes import canonicals_held
from fhir_server.storage.mongo.search_page import search_page
from tests.contract.backends import MONGODB_URI
from tests.contract.test_mongo_explain import (  # noqa: F401  (fixture)
    INDEX_STAGES,
    TENANT,
    Recorder,
    loaded,
    recording,
    winning_stages,
)

pytestmark = pytest.mark.skipif(
    not MONGODB_URI, reason="FHIR_TEST_MONGODB_URI names no MongoDB server to explain on"
)

_OPTIONS = QueryOptions(20, 1000, strict=True, base_url="http://testserver/fhir/acme")
_TENANT_POINT = f'["{TENANT}", "{TENANT}"]'


def winning_index_scans(explained: Any, inside: bool = False) -> list[dict[str, Any]]:
    """Every IXSCAN-like node of any winning plan in an explain() answer."""
    found: list[dict[str, Any]] = []
    if isinstance(explained, dict):
        if inside and explained.get("stage") in INDEX_STAGES and "indexBounds" in explained:
            found.append(explained)
        for key, value in explained.items():
            found += winning_index_scans(value, inside or key in ("winningPlan", "queryPlan"))
    elif isinstance(explained, list):
        for item in explained:
            found += winning_index_scans(item, inside)
    return found


async def _explain_all(provider: MongoStoreProvider, recorder: Recorder, what: object) -> None:
    assert recorder.calls, what
    for command in recorder.calls:
        explained = await provider._backend.db.command(
            {"explain": command, "verbosity": "queryPlanner"}
        )
        stages = winning_stages(explained)
        assert stages, (what, command)
        assert "COLLSCAN" not in stages, (what, command, stages)
        assert INDEX_STAGES & set(stages), (what, command, stages)
        for scan in winning_index_scans(explained):
            bounds = scan["indexBounds"]
            # every index of `resources` starts with tenant; a scan of all tenants is a bug
            assert bounds.get("tenant") == [_TENANT_POINT], (what, scan.get("indexName"), bounds)


@pytest.mark.parametrize("types", ["", "Observation,Encounter,Patient"])
async def test_compartment_of_every_type_uses_indexes(
    loaded: MongoStoreProvider,  # noqa: F811
    types: str,
) -> None:
    params = [("_type", types)] if types else []
    plan = parse_search(None, params, default_registry(), _OPTIONS)
    plan = _in_compartment(plan, "Patient", "p1")  # the `$or` of TypeCondition branches
    recorder = Recorder(loaded._backend.collections.resources)
    page = await search_page(TENANT, recording(loaded, recorder), plan, None)
    assert page.matches
    await _explain_all(loaded, recorder, ("Patient/p1/*", types))


async def test_unversioned_canonical_reference_uses_an_index(
    loaded: MongoStoreProvider,  # noqa: F811
) -> None:
    match = ReferenceMatch(url="http://acme.org/fhir/ValueSet/vitals", unversioned=True)
    plan = SearchPlan("Observation", (ReferenceCondition("based-on", (match,)),))
    recorder = Recorder(loaded._backend.collections.resources)
    await search_page(TENANT, recording(loaded, recorder), plan, None)
    await _explain_all(loaded, recorder, "unversioned canonical")


@pytest.mark.parametrize(
    "condition",
    [
        IdCondition(("o1", "o2", "o5")),  # canonical _include: the page's holders
        TokenCondition("code", (TokenMatch("http://loinc.org", "8302-2", True),)),  # _has
    ],
)
async def test_canonicals_aggregation_uses_indexes(
    loaded: MongoStoreProvider,  # noqa: F811
    condition: object,
) -> None:
    recorder = Recorder(loaded._backend.collections.resources)
    await canonicals_held(
        TENANT,
        recorder,  # type: ignore[arg-type]
        "Observation",
        "based-on",
        condition,  # type: ignore[arg-type]
        201,
    )
    await _explain_all(loaded, recorder, condition)
