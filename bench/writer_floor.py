"""What SQLite alone spends on a create: the floor under any create speed.

    python bench/writer_floor.py [--creates 6000] [--group 12] [--varied]

Writes creates of the ~2 KB bench Patient straight into a tenant database made by the
server's own store (its schema, indexes and count triggers), with the writer's own write
job (`write_jobs.apply_ops`), `--group` creates to a transaction, each in a SAVEPOINT, as
the group-commit writer does. Everything else a create costs the server is left out and
done before the clock starts: HTTP, parsing, validation, indexing, building the index
rows. What is measured is this process's CPU (user and system) per create: the rows
SQLite inserts (resource, history, ~43 index rows, ~16 count upserts) and the commits.

`--varied` gives each Patient names, an identifier and a phone number of its own, as real
data has (the bench's identical Patient is the best case for the index b-trees).

`bench/rest_core.py` prints this floor beside the create target's CPU budget.
"""

from __future__ import annotations

import argparse
import copy
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from fhir_server.interactions.writes import new_id
from fhir_server.resource_json import dump
from fhir_server.search.indexer import Indexer
from fhir_server.search.registry import default_registry
from fhir_server.storage.contracts import WriteOp
from fhir_server.storage.sqlite import write_jobs
from fhir_server.storage.sqlite.connection import open_connection
from fhir_server.storage.sqlite.index_rows import PreparedIndex, prepare_index
from fhir_server.storage.sqlite.resources import SqliteResourceStore

PATIENT = Path(__file__).resolve().parent / "patient_2kb.json"


def _patients(count: int, varied: bool) -> list[dict[str, Any]]:
    base = orjson.loads(PATIENT.read_bytes())
    if not varied:
        return [base] * count
    rng = random.Random(1)
    words = ["".join(rng.choices("abcdefghijklmnop", k=7)) for _ in range(5000)]
    patients = []
    for _ in range(count):
        patient = copy.deepcopy(base)
        patient["name"][0]["family"] = rng.choice(words)
        patient["name"][0]["given"] = [rng.choice(words), rng.choice(words)]
        patient["identifier"][0]["value"] = str(rng.randrange(10**9))
        patient["telecom"][0]["value"] = str(rng.randrange(10**9))
        patients.append(patient)
    return patients


def _creates(patients: list[dict[str, Any]]) -> tuple[list[WriteOp], list[PreparedIndex]]:
    indexer = Indexer(default_registry())
    ops = [
        WriteOp(
            resource_type="Patient",
            id=new_id(),
            expected_version=0,
            version=1,
            last_updated_us=time.time_ns() // 1000,
            method="POST",
            body=dump(patient),
            index=indexer.index(patient),
        )
        for patient in patients
    ]
    return ops, [prepare_index(op.resource_type, op.index) for op in ops]


def _write(
    conn: sqlite3.Connection,
    path: str,
    ops: list[WriteOp],
    indexes: list[PreparedIndex],
    group: int,
) -> None:
    for start in range(0, len(ops), group):
        conn.execute("BEGIN IMMEDIATE")
        for i in range(start, min(start + group, len(ops))):
            conn.execute("SAVEPOINT job")
            write_jobs.apply_ops(conn, path, [ops[i]], [indexes[i]])
            conn.execute("RELEASE job")
        conn.execute("COMMIT")


def writer_floor_ms(creates: int = 6000, group: int = 12, varied: bool = False) -> float:
    """CPU milliseconds per create that SQLite's part of the write costs, on a fresh
    tenant database in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="bench-writer-") as tmp:
        path = Path(tmp) / "tenant.sqlite"
        SqliteResourceStore(path).close()  # the server's schema, indexes and triggers
        ops, indexes = _creates(_patients(creates, varied))
        conn = open_connection(path, writer=True)
        try:
            # a first group warms the page cache and the statement cache, as in a server
            _write(conn, str(path), ops[:group], indexes[:group], group)
            started = time.process_time()
            _write(conn, str(path), ops[group:], indexes[group:], group)
            spent = time.process_time() - started
        finally:
            conn.close()
    return 1000 * spent / (creates - group)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--creates", type=int, default=6000)
    parser.add_argument("--group", type=int, default=12)
    parser.add_argument("--varied", action="store_true")
    args = parser.parse_args()
    floor = writer_floor_ms(args.creates, args.group, args.varied)
    kind = "varied Patients" if args.varied else "the bench Patient"
    print(
        f"SQLite writer alone, {kind}, {args.group} creates a commit: "
        f"{floor:.3f} ms CPU per create ({1000 / floor:,.0f} creates/s per core at most)"
    )


if __name__ == "__main__":
    main()
