"""Compiled walkers against the FHIRPath engine over every Synthea resource.

The walkers are an optimization of FHIRPath evaluation, so their contract is to extract
exactly what fhirpathpy extracts, for every search parameter of every resource. The
Synthea sample bundles are not part of the project: point ``FHIR_SYNTHEA_DIR`` at them
(``shared/synthea``) to run this test.
"""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path
from typing import Any

import pytest

from fhir_server.search.entries import IndexEntry
from fhir_server.search.indexer import Indexer
from fhir_server.search.registry import default_registry

SYNTHEA_DIR = os.environ.get("FHIR_SYNTHEA_DIR")


def _resources(folder: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        if bundle.get("resourceType") != "Bundle":
            continue  # e.g. a README rendered as JSON: not a bundle
        found += [e["resource"] for e in bundle.get("entry", []) if "resource" in e]
    return found


def _by_param(entries: list[IndexEntry]) -> dict[str, set[IndexEntry]]:
    grouped: dict[str, set[IndexEntry]] = collections.defaultdict(set)
    for entry in entries:
        grouped[entry.param].add(entry)
    return grouped


@pytest.mark.skipif(
    not SYNTHEA_DIR,
    reason="FHIR_SYNTHEA_DIR is not set (point it at the Synthea bundles, shared/synthea)",
)
def test_walkers_extract_what_the_engine_extracts_for_every_synthea_resource() -> None:
    assert SYNTHEA_DIR is not None
    resources = _resources(Path(SYNTHEA_DIR))
    assert resources, f"no bundles in {SYNTHEA_DIR}"
    registry = default_registry()
    fast, engine = Indexer(registry), Indexer(registry, fast_path=False)
    mismatches: list[str] = []
    per_param: collections.Counter[tuple[str, str]] = collections.Counter()
    for resource in resources:
        walked, evaluated = _by_param(fast.index(resource)), _by_param(engine.index(resource))
        for param in sorted(walked.keys() | evaluated.keys()):
            per_param[resource["resourceType"], param] += len(walked.get(param, ()))
            if walked.get(param, set()) != evaluated.get(param, set()):
                only_fast = walked.get(param, set()) - evaluated.get(param, set())
                only_engine = evaluated.get(param, set()) - walked.get(param, set())
                mismatches.append(
                    f"{resource['resourceType']}/{resource.get('id')} {param}: "
                    f"walkers only {sorted(map(repr, only_fast))[:2]}, "
                    f"engine only {sorted(map(repr, only_engine))[:2]}"
                )
    assert not mismatches, f"{len(mismatches)} disagreements, e.g.\n" + "\n".join(mismatches[:20])
    # Not vacuous: the common parameters of the sample data do produce entries.
    for key in [
        ("Observation", "code"),
        ("Observation", "value-quantity"),
        ("Observation", "code-value-quantity"),
        ("Patient", "birthdate"),
        ("Encounter", "date"),
        ("Claim", "patient"),
        ("Immunization", "vaccine-code"),
    ]:
        assert per_param[key] > 0, key
