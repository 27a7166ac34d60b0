"""Search latency at several database sizes (issue 3's query set), in one run.

    python bench/synthea_gen.py --data-dir /tmp/b10k --size 10000      # and 100k, 1M
    python bench/search.py /tmp/b10k /tmp/b100k /tmp/b1m [--reps 30]

For each data directory (tenant `bench`, built by synthea_gen.py) and each query, reports
p50/p95 of the first page and of the fifth page (reached through `next` links), through
the real ASGI app in-process, beside the same-run baseline of a read by id. The databases
are measured in turns, one request each, after a few unmeasured runs: drift of the
machine (other processes, clocks) then weighs on every size alike. Then prints
the growth of each query's first-page p50 from the smallest to the largest database.
Targets: first page p50 <= 20 ms at 1M, growth <= 1.5x.

Growth compares pages of equal size, so every query fills its first page at every size:
the 10k tenant holds 16 Patients (8 of them female), most of the rest being the shared
hospital directory, so the Patient queries ask for 10 entries (`_revinclude`, over female
Patients, for 5), and the chain names the hospital whose Encounters hold the most
Observations (a small practice's chain matches 2 Observations at 10k and a full page at 1M:
that measured the page's size, not the database's). Each line still shows the entries of
the first page (with includes); where they differ between sizes, the growth line adds the
growth of the cost per entry.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from fhir_server.settings import Settings
from fhir_server.web.app import create_app

# The most frequent Observation code of these Synthea bundles (their LOINC slots hold
# OpenMRS-style concept codes): a third of all Observations, an unselective token.
COMMON_CODE = "http://loinc.org|1271AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
# The hospital of the shared directory whose Encounters hold the most Observations (198 of
# the 1,531 linked to an Encounter at 10k resources), by its full name: the prefix
# "MetroWest" alone first meets an ENT practice with one Encounter (two Observations) per
# patient copy, eleven of them scattered across the 1M database before the page is full.
BUSIEST_HOSPITAL = "MetroWest Medical Center"
QUERIES = {
    "token": "Observation?code=" + COMMON_CODE,
    "date range": "Observation?date=ge2015-01-01&date=lt2015-03-01",
    "string prefix": "Patient?address-state=MA&_count=10",
    "reference": "Observation?subject=Patient/{pid}",
    "chain (2 levels)": "Observation?encounter.service-provider.name=" + BUSIEST_HOSPITAL,
    "_has": "Patient?_has:Observation:patient:code=" + COMMON_CODE + "&_count=10",
    "_include": "Observation?code=" + COMMON_CODE + "&_include=Observation:patient",
    "_revinclude": "Patient?gender=female&_revinclude=Encounter:patient&_count=5",
    "_sort=-date": "Observation?_sort=-date",
    "_total=accurate": "Observation?code=" + COMMON_CODE + "&_total=accurate",
}


WARM_UP = 3  # unmeasured runs of each query per database


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _timed(client: httpx.AsyncClient, url: str) -> tuple[float, dict]:
    started = time.perf_counter()
    response = await client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed, response.json()


async def _discover(client: httpx.AsyncClient) -> dict[str, str]:
    patients = (await client.get("Patient?_count=1&_total=none")).json()["entry"][0]["resource"]
    return {"pid": patients["id"]}


Row = tuple[float, float, float, float, int]  # first p50, p95, fifth p50, p95, entries


@dataclass
class _Tenant:
    client: httpx.AsyncClient
    values: dict[str, str]
    first: list[float] = field(default_factory=list)
    fifth: list[float] = field(default_factory=list)
    entries: int = 0


async def _fifth_page(tenant: _Tenant, url: str) -> None:
    page_url = url
    for _ in range(4):
        _, bundle = await _timed(tenant.client, page_url)
        links = bundle.get("link", [])  # none on the baseline read
        found = next((k["url"] for k in links if k["relation"] == "next"), None)
        if found is None:
            return
        page_url = found
    tenant.fifth.append((await _timed(tenant.client, page_url))[0])


async def _measure_query(tenants: list[_Tenant], template: str, reps: int) -> list[Row]:
    """One query on every database, interleaved rep by rep so that the machine's drift
    (other processes, CPU clocks) falls on all sizes alike; a few unmeasured runs first."""
    for tenant in tenants:
        tenant.first, tenant.fifth = [], []
        for _ in range(WARM_UP):
            _, bundle = await _timed(tenant.client, template.format(**tenant.values))
        tenant.entries = len(bundle.get("entry", []))
    for _ in range(reps):
        for tenant in tenants:
            tenant.first.append((await _timed(tenant.client, template.format(**tenant.values)))[0])
    for _ in range(max(3, reps // 5)):
        for tenant in tenants:
            await _fifth_page(tenant, template.format(**tenant.values))
    rows = []
    for tenant in tenants:
        fifth = tenant.fifth
        f5 = (_pct(fifth, 0.5), _pct(fifth, 0.95)) if fifth else (float("nan"), float("nan"))
        rows.append((_pct(tenant.first, 0.5), _pct(tenant.first, 0.95), *f5, tenant.entries))
    return rows


async def measure(data_dirs: list[Path], reps: int) -> dict[Path, dict[str, Row]]:
    table: dict[Path, dict[str, Row]] = {d: {} for d in data_dirs}
    async with AsyncExitStack() as stack:
        tenants = []
        for data_dir in data_dirs:
            app = create_app(Settings(data_dir=data_dir))
            stack.callback(app.close)
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://bench/fhir/bench/"
                )
            )
            tenants.append(_Tenant(client, await _discover(client)))
        queries = {"(baseline) read by id": "Patient/{pid}", **QUERIES}
        for name, template in queries.items():
            for data_dir, row in zip(
                data_dirs, await _measure_query(tenants, template, reps), strict=True
            ):
                table[data_dir][name] = row
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dirs", type=Path, nargs="+")
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    table = asyncio.run(measure(args.data_dirs, args.reps))
    for data_dir in args.data_dirs:
        print(f"\n{data_dir}  (ms: first p50 / p95 (entries), fifth page p50 / p95)")
        for name, (p50, p95, f50, f95, n) in table[data_dir].items():
            print(f"  {name:22s} {p50:7.2f} {p95:7.2f} ({n:4d})   {f50:7.2f} {f95:7.2f}")
    if len(args.data_dirs) > 1:
        small, large = table[args.data_dirs[0]], table[args.data_dirs[-1]]
        print(f"\ngrowth of first-page p50, {args.data_dirs[0]} -> {args.data_dirs[-1]}:")
        for name in QUERIES:
            growth = large[name][0] / small[name][0]
            line = f"  {name:22s} {growth:5.2f}x   ({large[name][0]:.2f} ms at the largest)"
            few, many = small[name][4], large[name][4]
            if few != many and few > 0:
                line += f"; entries {few} -> {many}: {growth * few / many:.2f}x per entry"
            print(line)


if __name__ == "__main__":
    main()
