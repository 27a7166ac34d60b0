"""Generate `fhir_server/data/r4_xml_order.json`: the element order of every R4 type.

JSON objects are unordered, but XML is not: "Elements must always appear in the order
documented" (http://hl7.org/fhir/R4/xml.html). The order is the order of the elements in
each StructureDefinition snapshot (http://hl7.org/fhir/R4/elementdefinition.html). The
structure table (`r4_structure.json`) keys elements by JSON name and drops that order, so
this companion table keeps, per type and BackboneElement path (the same keys as the
structure table), the element names in snapshot order, a choice element once by its base
name (`value` for `value[x]`).

Usage: python scripts/generate_xml_order.py [--shared ../shared/fhir-r4] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

JsonObj = dict[str, Any]

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "fhir_server" / "data"
FILE_NAME = "r4_xml_order.json"


def _definitions(path: Path) -> list[JsonObj]:
    bundle = json.loads(path.read_text(encoding="utf-8"))
    return [
        entry["resource"]
        for entry in bundle["entry"]
        if entry["resource"]["resourceType"] == "StructureDefinition"
    ]


def _orders(sd: JsonObj) -> dict[str, list[str]]:
    """Element names in snapshot order, keyed by owner path (the type or backbone path)."""
    owners: dict[str, list[str]] = {sd["type"]: []}
    for el in sd["snapshot"]["element"][1:]:
        if ":" in el["id"] or el["max"] == "0":
            continue  # slices and prohibited elements, as in the structure table
        parent, name = el["path"].rsplit(".", 1)
        names = owners.setdefault(parent, [])
        base = name.removesuffix("[x]")
        if base not in names:
            names.append(base)
    return {owner: names for owner, names in owners.items() if names}


def build(shared: Path) -> JsonObj:
    orders: dict[str, list[str]] = {}
    for sd in _definitions(shared / "profiles-types.json"):
        wanted = sd["kind"] == "complex-type" and sd.get("derivation") == "specialization"
        if (wanted and not sd["abstract"]) or sd["id"] == "Element":
            orders.update(_orders(sd))
    for sd in _definitions(shared / "profiles-resources.json"):
        if sd["kind"] == "resource" and not sd["abstract"]:
            orders.update(_orders(sd))
    return {
        "fhirVersion": "4.0.1",
        "source": "HL7 FHIR R4 4.0.1 profiles-resources.json, profiles-types.json; "
        "regenerate with scripts/generate_xml_order.py",
        "order": dict(sorted(orders.items())),
    }


def render(data: JsonObj) -> bytes:
    """Compact JSON, one line per type so diffs stay readable."""
    lines = [
        f"{json.dumps(k)}:{json.dumps(v, separators=(',', ':'))}" for k, v in data["order"].items()
    ]
    head = [f"{json.dumps(k)}:{json.dumps(v)}" for k, v in data.items() if k != "order"]
    body = '"order":{\n' + ",\n".join(lines) + "\n}"
    return ("{\n" + ",\n".join([*head, body]) + "\n}\n").encode("utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "fhir-r4")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output directory")
    args = parser.parse_args()
    payload = render(build(args.shared))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / FILE_NAME).write_bytes(payload)
    print(f"wrote {args.out / FILE_NAME} ({len(payload):,} bytes)")


if __name__ == "__main__":
    main()
