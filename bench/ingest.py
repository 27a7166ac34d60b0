"""Ingest benchmark: the Synthea sample through HTTP, against a bare SQLite insert, in one run.

    python bench/ingest.py [--synthea ../shared/synthea] [--workers 2] [--concurrency 4]

1. Starts `fhir-server serve --demo --workers N` on loopback with an empty data directory.
2. POSTs the two batch bundles (hospital and practitioner information, conditional creates)
   and then the patient transaction bundles, `--concurrency` at a time, as the raw file
   bytes, and measures resources/s from the first request to the last response.
   Validation and search indexing are on, as always.
3. In the same run, inserts the same resources' JSON into a bare SQLite table (WAL,
   synchronous=FULL, one transaction per bundle, no validation, no index), the floor that
   any store on this disk pays.
4. Reads every resource back (batch Bundles of GETs) and checks it equals what was sent,
   apart from the server-assigned id, references rewritten from `urn:uuid:` or
   conditional references (`Practitioner?identifier=...`), and `meta.versionId` and
   `meta.lastUpdated`.

Prints both rates and their ratio; exits non-zero if anything failed to load or differs.
Target (issue 4): at least 1,500 resources/s end to end on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1500


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bundles(folder: Path) -> tuple[list[Path], list[Path]]:
    files = sorted(folder.glob("*.json"))
    batches = [f for f in files if f.name.startswith(("hospital", "practitioner"))]
    return batches, [f for f in files if f not in batches]


def _start(data_dir: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_")}
    command = [sys.executable, "-m", "fhir_server", "serve", "--demo"]
    command += ["--data-dir", str(data_dir), "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/fhir/demo/metadata", timeout=2).is_success:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    _stop(process)
    raise SystemExit("the server did not start")


def _stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


async def _post_all(
    client: httpx.AsyncClient, files: list[Path], concurrency: int
) -> dict[Path, dict[str, Any]]:
    gate = asyncio.Semaphore(concurrency)
    answers: dict[Path, dict[str, Any]] = {}

    async def post(path: Path) -> None:
        async with gate:
            response = await client.post("", content=path.read_bytes())
        if response.status_code != 200:
            raise SystemExit(f"{path.name}: HTTP {response.status_code} {response.text[:500]}")
        answers[path] = orjson.loads(response.content)

    await asyncio.gather(*(post(f) for f in files))
    return answers


def _bare_rate(bundles: list[dict[str, Any]], folder: Path) -> float:
    """Resources/s of inserting each resource's JSON into one bare table."""
    path = folder / "bare.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE r (pk INTEGER PRIMARY KEY, type TEXT, id TEXT, body BLOB)")
    count = 0
    started = time.perf_counter()
    for bundle in bundles:
        rows = [
            (e["resource"]["resourceType"], e["resource"].get("id"), orjson.dumps(e["resource"]))
            for e in bundle["entry"]
        ]
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO r (type, id, body) VALUES (?, ?, ?)", rows)
        conn.execute("COMMIT")
        count += len(rows)
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


def _server_ids(
    sent: dict[Path, dict[str, Any]], answers: dict[Path, dict[str, Any]]
) -> tuple[dict[str, str], list[tuple[dict[str, Any], str]]]:
    """fullUrl → Type/id, and (sent resource, Type/id) for every entry."""
    by_full_url: dict[str, str] = {}
    pairs: list[tuple[dict[str, Any], str]] = []
    for path, bundle in sent.items():
        entries = answers[path]["entry"]
        for request_entry, response_entry in zip(bundle["entry"], entries, strict=True):
            status = response_entry["response"]["status"]
            if not status.startswith(("200", "201")):
                raise SystemExit(f"{path.name}: an entry failed: {response_entry}")
            location = response_entry["response"]["location"]
            rtype, rid = location.split("/_history/")[0].split("/")[-2:]
            by_full_url[request_entry["fullUrl"]] = f"{rtype}/{rid}"
            pairs.append((request_entry["resource"], f"{rtype}/{rid}"))
    return by_full_url, pairs


def _identifier_index(pairs: list[tuple[dict[str, Any], str]]) -> dict[str, str]:
    """`Type?identifier=system|value` → Type/id, for resolving conditional references."""
    found = {}
    for resource, target in pairs:
        for identifier in resource.get("identifier", []):
            key = f"{resource['resourceType']}?identifier={identifier.get('system')}|"
            found[key + str(identifier.get("value"))] = target
    return found


def _expected(resource: dict[str, Any], target: str, refs: dict[str, str]) -> Any:
    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items()}
            if isinstance(out.get("reference"), str) and out["reference"] in refs:
                out["reference"] = refs[out["reference"]]
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    expected = walk(resource)
    expected["id"] = target.split("/")[1]
    return _without_server_meta(expected)


def _without_server_meta(resource: dict[str, Any]) -> dict[str, Any]:
    meta = {
        k: v
        for k, v in (resource.get("meta") or {}).items()
        if k not in ("versionId", "lastUpdated")
    }
    result = {k: v for k, v in resource.items() if k != "meta"}
    if meta:
        result["meta"] = meta
    return result


async def _verify(
    client: httpx.AsyncClient, pairs: list[tuple[dict[str, Any], str]], refs: dict[str, str]
) -> int:
    mismatches = 0
    for start in range(0, len(pairs), 1000):
        chunk = pairs[start : start + 1000]
        bundle = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [{"request": {"method": "GET", "url": t}} for _, t in chunk],
        }
        response = await client.post("", content=orjson.dumps(bundle))
        entries = orjson.loads(response.content)["entry"]
        for (resource, target), entry in zip(chunk, entries, strict=True):
            got = entry.get("resource")
            if got is None or _without_server_meta(got) != _expected(resource, target, refs):
                mismatches += 1
                if mismatches <= 3:
                    print(f"  differs: {target}", file=sys.stderr)
    return mismatches


async def _run(args: argparse.Namespace) -> int:
    folder = Path(args.synthea)
    batches, transactions = _bundles(folder)
    files = batches + transactions
    sent = {f: orjson.loads(f.read_bytes()) for f in files}
    total = sum(len(b["entry"]) for b in sent.values())
    with tempfile.TemporaryDirectory() as tmp:
        bare = _bare_rate(list(sent.values()), Path(tmp))
        port = _free_port()
        process = _start(Path(tmp) / "data", port, args.workers)
        try:
            base = f"http://127.0.0.1:{port}/fhir/demo/"
            headers = {"Content-Type": "application/fhir+json"}
            limits = httpx.Limits(max_connections=args.concurrency + 2)
            async with httpx.AsyncClient(
                base_url=base, headers=headers, timeout=600, limits=limits
            ) as client:
                started = time.perf_counter()
                answers = await _post_all(client, batches, 2)
                batch_elapsed = time.perf_counter() - started
                answers |= await _post_all(client, transactions, args.concurrency)
                elapsed = time.perf_counter() - started
                by_full_url, pairs = _server_ids(sent, answers)
                refs = by_full_url | _identifier_index(pairs[: _batch_count(sent, batches)])
                mismatches = await _verify(client, pairs, refs)
        finally:
            _stop(process)
    rate = total / elapsed
    print(f"resources loaded      {total} in {elapsed:.2f} s ({len(files)} bundles over HTTP)")
    print(f"server ingest         {rate:,.0f} resources/s (validation and indexing on)")
    batch_total = _batch_count(sent, batches)
    print(
        f"  batches             {batch_total / batch_elapsed:,.0f} resources/s "
        f"({batch_total} conditional creates, {batch_elapsed:.2f} s)"
    )
    print(
        f"  transactions        {(total - batch_total) / (elapsed - batch_elapsed):,.0f} "
        f"resources/s ({total - batch_total} resources, {elapsed - batch_elapsed:.2f} s)"
    )
    print(f"bare SQLite insert    {bare:,.0f} resources/s (same JSON, one table, no index)")
    print(f"ratio                 {rate / bare:.1%} of the bare insert rate")
    print(f"read back equal       {len(pairs) - mismatches} of {len(pairs)}")
    print(f"target                >= {TARGET} resources/s: {'met' if rate >= TARGET else 'MISSED'}")
    return 1 if mismatches else 0


def _batch_count(sent: dict[Path, dict[str, Any]], batches: list[Path]) -> int:
    return sum(len(sent[f]["entry"]) for f in batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--synthea", default=str(ROOT.parent / "shared" / "synthea"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    sys.exit(asyncio.run(_run(parser.parse_args())))


if __name__ == "__main__":
    main()
