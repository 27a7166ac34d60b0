"""Build tenants of N resources from the Synthea bundles: new ids, shifted dates, same shape.

    python bench/synthea_gen.py --synthea ../shared/synthea --data-dir /tmp/bench --size 100000

Copy k of the patient bundles gets ids suffixed with `-k` and every date shifted by k*13
days; the hospital and practitioner bundles are loaded once and shared (conditional
references `Practitioner?identifier=...` are resolved to them). Resources go straight into
the tenant's store through the real indexer, in large batches: this builds data for the
search benchmark, it does not measure ingest (bench/ingest.py does).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from fhir_server.instants import format_instant, now_us
from fhir_server.resource_json import dump, with_server_meta
from fhir_server.search.indexer import Indexer
from fhir_server.search.registry import default_registry
from fhir_server.storage.contracts import WriteOp
from fhir_server.storage.sqlite import SqliteStoreProvider
from tenancy import TenantId

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))?$")


def shift(value: Any, days: int) -> Any:
    if isinstance(value, dict):
        return {k: shift(v, days) for k, v in value.items()}
    if isinstance(value, list):
        return [shift(v, days) for v in value]
    if isinstance(value, str) and days and (m := _DATE.match(value)):
        try:
            moved = datetime(int(m[1]), int(m[2]), int(m[3])) + timedelta(days=days)
        except ValueError:
            return value
        return moved.strftime("%Y-%m-%d") + (m[4] or "")
    return value


def rewrite_refs(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out = {k: rewrite_refs(v, mapping) for k, v in value.items()}
        ref = out.get("reference")
        if isinstance(ref, str) and ref in mapping:
            out["reference"] = mapping[ref]
        return out
    if isinstance(value, list):
        return [rewrite_refs(v, mapping) for v in value]
    return value


def shared_resources(folder: Path) -> tuple[list[dict[str, Any]], dict[str, str]]:
    resources, mapping = [], {}
    for path in sorted(folder.glob("*Information*.json")):
        for entry in json.loads(path.read_text())["entry"]:
            resource = entry["resource"]
            ref = f"{resource['resourceType']}/{resource['id']}"
            mapping[entry["fullUrl"]] = ref
            for ident in resource.get("identifier", []):
                mapping[
                    f"{resource['resourceType']}?identifier={ident.get('system')}|{ident.get('value')}"
                ] = ref
            resources.append(resource)
    return resources, mapping


def patient_bundles(folder: Path) -> list[list[tuple[str, dict[str, Any]]]]:
    return [
        [(e["fullUrl"], e["resource"]) for e in json.loads(p.read_text())["entry"]]
        for p in sorted(folder.glob("*.json"))
        if "Information" not in p.name
    ]


def copy_of(
    bundle: list[tuple[str, dict[str, Any]]], k: int, shared: dict[str, str]
) -> list[dict[str, Any]]:
    mapping = dict(shared)
    for full_url, resource in bundle:
        mapping[full_url] = f"{resource['resourceType']}/{resource['id']}-{k}"
    out = []
    for _, resource in bundle:
        fresh = rewrite_refs(shift(resource, k * 13), mapping)
        fresh["id"] = f"{resource['id']}-{k}"
        out.append(fresh)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--synthea", type=Path, default=Path("../shared/synthea"))
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--tenant", default="bench")
    parser.add_argument("--size", type=int, required=True, help="resources to create (about)")
    args = parser.parse_args()
    provider = SqliteStoreProvider(args.data_dir)
    tenant = TenantId(args.tenant)
    provider.tenants.create(tenant, format_instant(now_us()))
    store = provider.for_tenant(tenant)
    indexer = Indexer(default_registry())
    shared, mapping = shared_resources(args.synthea)
    bundles = patient_bundles(args.synthea)
    started, written, batch = time.monotonic(), 0, []

    def put(resource: dict[str, Any]) -> None:
        nonlocal written
        stamp = now_us()
        stamped = with_server_meta(
            resource, resource_id=resource["id"], version_id="1", last_updated=format_instant(stamp)
        )
        batch.append(
            WriteOp(
                resource["resourceType"],
                resource["id"],
                0,
                1,
                stamp,
                "PUT",
                dump(stamped),
                indexer.index(stamped),
            )
        )
        written += 1
        if len(batch) >= 2000:
            store.commit_blocking(list(batch))
            batch.clear()
            rate = written / (time.monotonic() - started)
            print(f"\r{written:>9,} resources, {rate:,.0f}/s", end="", file=sys.stderr)

    for resource in shared:
        put(orjson.loads(orjson.dumps(resource)))
    k = 0
    while written < args.size:
        for bundle in bundles:
            for resource in copy_of(bundle, k, mapping):
                put(resource)
            if written >= args.size:
                break
        k += 1
    if batch:
        store.commit_blocking(batch)
    provider.close()
    print(f"\n{written:,} resources in {time.monotonic() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
