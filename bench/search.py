"""Search latency at several database sizes (issue 3's query set), in one run.

    python bench/synthea_gen.py --data-dir /tmp/b10k --size 10000      # and 100k, 1M
    python bench/search.py /tmp/b10k /tmp/b100k /tmp/b1m [--reps 30]

For each data directory (tenant `bench`, built by synthea_gen.py) and each query, reports
p50/p95 of the first page and of the fifth page (reached through `next` links), through
the real ASGI app in-process, beside the same-run baseline of a read by id. Then prints
the growth of each query's first-page p50 from the smallest to the largest database.
Targets: first page p50 <= 20 ms at 1M, growth <= 1.5x.

A first page is not always full: the 10k tenant holds 16 patients, so no Patient search
fills a 20-entry page there, and a chain through one organization may match two
Observations. Each line therefore shows the entries of the first page (with includes),
and where these differ between the sizes the growth line adds the growth of the cost per
entry: "the cost follows the page" then means that figure stays near 1.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import httpx

from fhir_server.settings import Settings
from fhir_server.web.app import create_app

# The most frequent Observation code of these Synthea bundles (their LOINC slots hold
# OpenMRS-style concept codes): a third of all Observations, an unselective token.
COMMON_CODE = "http://loinc.org|1271AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
QUERIES = {
    "token": "Observation?code=" + COMMON_CODE,
    "date range": "Observation?date=ge2015-01-01&date=lt2015-03-01",
    "string prefix": "Patient?name=a",
    "reference": "Observation?subject=Patient/{pid}",
    "chain (2 levels)": "Observation?encounter.service-provider.name={org}",
    "_has": "Patient?_has:Observation:patient:code=" + COMMON_CODE,
    "_include": "Observation?code=" + COMMON_CODE + "&_include=Observation:patient",
    "_revinclude": "Patient?gender=female&_revinclude=Encounter:patient",
    "_sort=-date": "Observation?_sort=-date",
    "_total=accurate": "Observation?code=" + COMMON_CODE + "&_total=accurate",
}


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
    encounter = (await client.get(f"Encounter?subject=Patient/{patients['id']}&_count=1")).json()
    org_ref = encounter["entry"][0]["resource"]["serviceProvider"]["reference"]
    org = (await client.get(org_ref)).json()
    return {
        "pid": patients["id"],
        "prefix": patients["name"][0]["family"][:3],
        "org": org["name"][:6],
    }


Row = tuple[float, float, float, float, int]  # first p50, p95, fifth p50, p95, entries


async def measure(data_dir: Path, reps: int) -> dict[str, Row]:
    app = create_app(Settings(data_dir=data_dir))
    transport = httpx.ASGITransport(app=app)
    results: dict[str, Row] = {}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench/fhir/bench/"
    ) as client:
        values = await _discover(client)
        baseline = [(await _timed(client, f"Patient/{values['pid']}"))[0] for _ in range(reps)]
        results["(baseline) read by id"] = (_pct(baseline, 0.5), _pct(baseline, 0.95), 0, 0, 1)
        for name, template in QUERIES.items():
            url = template.format(**values)
            first, fifth = [], []
            for _ in range(reps):
                elapsed, bundle = await _timed(client, url)
                first.append(elapsed)
            entries = len(bundle.get("entry", []))
            for _ in range(max(3, reps // 5)):
                page_url: str | None = url
                for _ in range(4):
                    _, bundle = await _timed(client, page_url)  # type: ignore[arg-type]
                    page_url = next(
                        (k["url"] for k in bundle["link"] if k["relation"] == "next"), None
                    )
                    if page_url is None:
                        break
                if page_url is not None:
                    fifth.append((await _timed(client, page_url))[0])
            f5 = (_pct(fifth, 0.5), _pct(fifth, 0.95)) if fifth else (float("nan"), float("nan"))
            results[name] = (_pct(first, 0.5), _pct(first, 0.95), *f5, entries)
    app.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dirs", type=Path, nargs="+")
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    table = {}
    for data_dir in args.data_dirs:
        table[data_dir] = asyncio.run(measure(data_dir, args.reps))
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
