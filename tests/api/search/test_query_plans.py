"""EXPLAIN QUERY PLAN: every query of the benchmark set reads through indexes.

A full scan of a table or of an index without a key (`SCAN x`) would make a query's cost
follow the database instead of the page; these checks fail on the first such plan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest

from fhir_server.search.plan import Cursor, SearchPlan
from fhir_server.search.query import QueryOptions, parse_search
from fhir_server.search.registry import default_registry
from fhir_server.settings import Settings
from fhir_server.storage.sqlite import SqliteResourceStore, search_walks
from fhir_server.web.app import create_app
from tenancy import TenantId
from tests.api.search.dataset import load
from tests.conftest import TENANT

BENCHMARK_QUERIES = [
    "Observation?code=http://loinc.org|8302-2",
    "Observation?date=ge2021-01-01&date=lt2021-03-01",
    "Patient?name=mul",
    "Observation?subject=Patient/p1",
    "Observation?patient.organization.name=globex",
    "Patient?_has:Observation:patient:code=http://loinc.org|8302-2",
    "Observation?code=http://loinc.org|8302-2&_include=Observation:patient",
    "Patient?name=mul&_revinclude=Encounter:patient",
    "Observation?_sort=-date",
    "Observation?code=http://loinc.org|8302-2&_total=accurate",
]


def _plan(rtype: str, params: list[tuple[str, str]]) -> SearchPlan:
    options = QueryOptions(20, 1000, strict=True, base_url="http://testserver/fhir/acme")
    return parse_search(rtype, params, default_registry(), options)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteResourceStore]:
    """The SQLite store of a tenant holding the search dataset (EXPLAIN is SQLite's; the
    MongoDB explain() checks run against a real server, see docs/mongodb.md)."""
    app = create_app(Settings(data_dir=tmp_path / "data"))
    app.stores.tenants.create(TenantId(TENANT), "2026-01-01T00:00:00Z")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=f"http://testserver/fhir/{TENANT}/"
    ) as client:
        await load(client)
    store = app.stores.for_tenant(TenantId(TENANT))
    assert isinstance(store, SqliteResourceStore)
    yield store
    app.close()


@pytest.mark.parametrize("query", BENCHMARK_QUERIES)
async def test_benchmark_queries_use_indexes(sqlite_store: SqliteResourceStore, query: str) -> None:
    store = sqlite_store
    rtype, _, text = query.partition("?")
    steps = store.explain_search(_plan(rtype, parse_qsl(text)))
    # A chain or `_has` resolved first reads its set (at most SMALL_SET pks, found through
    # the indexes) from a JSON list: the one scan allowed.
    scans = [s for s in steps if s.startswith("SCAN") and "VIRTUAL TABLE" not in s]
    assert steps and not scans, (query, steps)
    assert any("INDEX" in s or "PRIMARY KEY" in s for s in steps)


@pytest.mark.parametrize(
    "query",
    [
        "Observation?patient.organization.name=globex",
        "Patient?_has:Observation:patient:code=http://loinc.org|8302-2",
    ],
)
async def test_later_pages_of_a_resolved_set_do_not_walk_the_table(
    sqlite_store: SqliteResourceStore, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    # Behind a cursor, `r.pk IN (set) AND r.pk > ?` made SQLite walk every resource past
    # the cursor; the set must drive the page instead.
    monkeypatch.setattr(search_walks, "chain_walk", lambda *_: None)
    rtype, _, text = query.partition("?")
    plan = _plan(rtype, parse_qsl(text))
    steps = sqlite_store.explain_search(replace(plan, cursor=Cursor(1, "after")))
    assert any("VIRTUAL TABLE" in s for s in steps), steps
    assert not any("rowid>" in s for s in steps), steps


async def test_a_chain_walks_from_its_far_end_and_seeks_its_cursor(
    sqlite_store: SqliteResourceStore,
) -> None:
    # Resolved first, a chain's page read every Encounter of an organization (2,146 at 1M
    # resources); from the far end it reads the organization's name entry, then the
    # references of each level in pk order, and stops at the page's end: no sort.
    plan = _plan("Observation", [("encounter.service-provider.name", "acme")])
    first = sqlite_store.explain_search(plan)
    assert "idx_string_value" in first[0], first
    assert not any("TEMP B-TREE" in s for s in first), first
    # a later page starts each level at the cursor rather than reading its way there
    later = replace(plan, cursor=Cursor(9, "after", ("acme", 1, 5)))
    steps = sqlite_store.explain_search(later)
    seeks = [s for s in steps if "idx_reference_target" in s and "pk>?" in s]
    assert len(seeks) == 2, steps


@pytest.mark.parametrize(
    ("query", "condition_index", "sort_index"),
    [
        # Sorting 95,000 matches of one code by date took 241 ms at 1M resources; walking
        # the date index in order and checking the code per row, 2.4 ms.
        ([("code", "http://loinc.org|8302-2"), ("_sort", "-date")], "idx_token", "idx_date"),
        # A range with few matches is walked and sorted: walking the sort index instead
        # would read every resource of the type (160 ms at 40k Patients).
        ([("date", "ge2022"), ("_sort", "code,-date")], "idx_date", "idx_token"),
    ],
)
async def test_a_condition_with_many_matches_walks_the_sort_index(
    sqlite_store: SqliteResourceStore,
    monkeypatch: pytest.MonkeyPatch,
    query: list[tuple[str, str]],
    condition_index: str,
    sort_index: str,
) -> None:
    plan = _plan("Observation", query)
    few = sqlite_store.explain_search(plan)
    whole_sort = "USE TEMP B-TREE FOR ORDER BY"
    assert condition_index in few[0] and whole_sort in few, few
    monkeypatch.setattr(search_walks, "SORT_CAP", 1)
    many = sqlite_store.explain_search(plan)
    assert sort_index in many[0] and whole_sort not in many, many


@pytest.mark.parametrize("sort", ["-date,code", "code,-date,_id"])
async def test_several_sort_keys_walk_the_first_ones_index(
    sqlite_store: SqliteResourceStore, sort: str
) -> None:
    # Sorting every Observation by `-date,code` took 2.1 s at 1M resources; walking the
    # date index and sorting only the resources that tie on a date, 1.1 ms.
    steps = sqlite_store.explain_search(_plan("Observation", [("_sort", sort)]))
    first = {"-": "idx_date", "c": "idx_token"}[sort[0]]
    assert first in steps[0], steps
    assert "USE TEMP B-TREE FOR RIGHT PART OF ORDER BY" in steps, steps
    assert "USE TEMP B-TREE FOR ORDER BY" not in steps, steps


@pytest.mark.parametrize(
    ("query", "keyed", "walked"),
    [
        # Probed per Patient: one key of the token index per Observation referring to it,
        # not every token of each such Observation (1.0 -> 0.5 ms at 1M resources).
        (
            [("_has:Observation:patient:code", "http://loinc.org|8302-2")],
            "idx_token_code (type=? AND param=? AND code=? AND system=? AND pk=?)",
            "idx_token_pk",
        ),
        # A code without its system is no whole key of the code index: the pk index, by
        # parameter and code, is the probe.
        (
            [("_has:Observation:patient:code", "8302-2")],
            "idx_token_pk (pk=? AND param=? AND code=?)",
            None,
        ),
    ],
)
async def test_a_probe_with_a_whole_key_looks_it_up(
    sqlite_store: SqliteResourceStore,
    monkeypatch: pytest.MonkeyPatch,
    query: list[tuple[str, str]],
    keyed: str,
    walked: str | None,
) -> None:
    monkeypatch.setattr(search_walks, "SMALL_SET", 0)  # probe, as for a common code
    steps = sqlite_store.explain_search(_plan("Patient", query))
    assert any(keyed in s for s in steps), steps
    assert walked is None or not any(walked in s for s in steps), steps


@pytest.mark.parametrize("sort", ["value-quantity", "-value-quantity"])
async def test_a_quantity_sort_walks_the_index_of_stated_values(
    sqlite_store: SqliteResourceStore, sort: str
) -> None:
    # Sorting by the stated value (a range's middle) at first sorted every match on every
    # page: ~350 ms per page at 200k Observations; the expression index keeps it a walk.
    steps = sqlite_store.explain_search(_plan("Observation", [("_sort", sort)]))
    assert "idx_quantity_middle" in steps[0], steps
    assert "USE TEMP B-TREE FOR ORDER BY" not in steps, steps


@pytest.mark.parametrize(
    ("query", "probe"),
    [
        # A Patient of 10,000 names: the look for an earlier matching name read all of the
        # Patient's string entries, per name (`name=a` ran for 9 s); now one range lookup.
        ([("name", "a")], "idx_string_pk (pk=? AND param=? AND value>? AND value<?)"),
        ([("_sort", "name")], "idx_string_pk (pk=? AND param=? AND value<?)"),
        ([("_sort", "-name")], "idx_string_pk (pk=? AND param=? AND value>?)"),
        ([("birthdate", "ge1970")], "idx_date_pk (pk=? AND param=? AND low>? AND low<?)"),
    ],
)
async def test_a_resource_is_shown_at_its_first_entry_by_one_lookup(
    sqlite_store: SqliteResourceStore, query: list[tuple[str, str]], probe: str
) -> None:
    steps = sqlite_store.explain_search(_plan("Patient", query))
    assert any(probe in step for step in steps), steps
