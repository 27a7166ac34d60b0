"""Generate `fhir_server/data/r4_structure.json` from the official FHIR R4 (4.0.1) definitions.

The server must not read `../shared` at run time, so this script distils the StructureDefinition
bundles (http://hl7.org/fhir/R4/profiling.html, http://hl7.org/fhir/R4/elementdefinition.html)
into the compact table that `fhir_server.validation.structure` loads:

- `primitives`: per primitive type, its JSON kind (http://hl7.org/fhir/R4/json.html#primitive)
  and the regex published on its `value` element (http://hl7.org/fhir/R4/datatypes.html);
- `types`: per complex datatype, resource and BackboneElement path, its elements keyed by JSON
  name (choice elements `value[x]` expanded to `valueString`, ...), each with `t` type, `n` min,
  `x` max, `s` isSummary, `m` isModifier, `c` choice base name and `b` required value set;
- `resources`: the 147 concrete resource types; `summary` / `mandatory`: their top-level
  summary and required element names (http://hl7.org/fhir/R4/search.html#summary);
- `valuesets`: the codes of the small, locally expandable value sets bound `required` to
  `code` elements (http://hl7.org/fhir/R4/terminologies.html#required).

Usage: python scripts/generate_r4_structure.py [--shared ../shared/fhir-r4] [--out PATH]
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
from typing import Any

JsonObj = dict[str, Any]

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "fhir_server" / "data"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
# Above this many codes a value set is not "small": validating it belongs to a terminology
# service, not to the structural validator.
MAX_CODES = 250
# Gzip the table only when it grows past this size (it is about 0.45 MB today).
GZIP_ABOVE = 1_500_000
# FHIRPath system types -> the JSON kind of a FHIR primitive (json.html#primitive).
JSON_KIND = {
    "http://hl7.org/fhirpath/System.Boolean": "boolean",
    "http://hl7.org/fhirpath/System.Integer": "integer",
    "http://hl7.org/fhirpath/System.Decimal": "number",
}


def _load_definitions(path: Path) -> dict[str, JsonObj]:
    bundle = json.loads(path.read_text(encoding="utf-8"))
    return {
        entry["resource"]["id"]: entry["resource"]
        for entry in bundle["entry"]
        if entry["resource"]["resourceType"] == "StructureDefinition"
    }


def _extension(obj: JsonObj, url: str) -> Any:
    for ext in obj.get("extension", ()):
        if ext["url"] == url:
            return next(v for k, v in ext.items() if k.startswith("value"))
    return None


def _primitives(types: dict[str, JsonObj]) -> dict[str, JsonObj]:
    """JSON kind and lexical regex of each primitive type."""
    out: dict[str, JsonObj] = {}
    for name, sd in sorted(types.items()):
        if sd["kind"] != "primitive-type":
            continue
        # positiveInt/unsignedInt declare System.String on their value element, yet json.html
        # makes them JSON numbers: the JSON kind is inherited, so follow baseDefinition.
        kind: str | None = None
        cur: JsonObj | None = sd
        while kind is None and cur is not None:
            value = next(e for e in cur["snapshot"]["element"] if e["path"] == f"{cur['id']}.value")
            kind = JSON_KIND.get(value["type"][0]["code"])
            base = cur.get("baseDefinition", "").rsplit("/", 1)[-1]
            cur = types.get(base) if base != "Element" else None
        own = next(e for e in sd["snapshot"]["element"] if e["path"] == f"{name}.value")
        entry: JsonObj = {"json": kind or "string"}
        regex = _extension(own["type"][0], REGEX_EXT)
        if regex:
            entry["regex"] = regex
        if "maxLength" in own:
            entry["maxLength"] = own["maxLength"]
        out[name] = entry
    return out


class _ValueSets:
    """Expands required value sets from valuesets.json when that is simple and local."""

    def __init__(self, path: Path) -> None:
        bundle = json.loads(path.read_text(encoding="utf-8"))
        res = [e["resource"] for e in bundle["entry"]]
        self.valuesets = {r["url"]: r for r in res if r["resourceType"] == "ValueSet"}
        self.codesystems = {r["url"]: r for r in res if r["resourceType"] == "CodeSystem"}
        self.used: dict[str, list[str]] = {}

    def codes(self, url: str) -> list[str] | None:
        url = url.split("|", 1)[0]
        if url not in self.used:
            found = self._expand(url, depth=0)
            if found is None or not found or len(found) > MAX_CODES:
                return None
            self.used[url] = sorted(found)
        return self.used[url]

    def _expand(self, url: str, depth: int) -> set[str] | None:
        vs = self.valuesets.get(url.split("|", 1)[0])
        if vs is None or depth > 5 or "compose" not in vs:
            return None
        codes: set[str] = set()
        for include in vs["compose"].get("include", []):
            part = self._include(include, depth)
            if part is None:
                return None
            codes |= part
        for exclude in vs["compose"].get("exclude", []):
            part = self._include(exclude, depth)
            if part is None:
                return None
            codes -= part
        return codes

    def _include(self, include: JsonObj, depth: int) -> set[str] | None:
        if "filter" in include:
            return None  # filters need a terminology engine
        found: set[str] | None = None
        if "system" in include:
            if "concept" in include:
                found = {c["code"] for c in include["concept"]}
            else:
                cs = self.codesystems.get(include["system"])
                if cs is None or cs.get("content") != "complete":
                    return None  # external (SNOMED, UCUM, BCP-13...) or partial
                found = set(_all_codes(cs.get("concept", [])))
        for ref in include.get("valueSet", []):
            sub = self._expand(ref, depth + 1)
            if sub is None:
                return None
            found = sub if found is None else found & sub
        return found


def _all_codes(concepts: list[JsonObj]) -> list[str]:
    out: list[str] = []
    for concept in concepts:
        out.append(concept["code"])
        out.extend(_all_codes(concept.get("concept", [])))
    return out


def _type_code(sd: JsonObj, el: JsonObj, t: JsonObj) -> str:
    code: str = t["code"]
    if code.startswith("http://hl7.org/fhirpath/System."):
        # Resource.id is typed `id` by resource.html, but its snapshot carries System.String
        # with a fhir-type of `string`; Element.id and Extension.url keep their fhir-type.
        if sd["kind"] == "resource" and el["path"] == f"{sd['type']}.id":
            return "id"
        fhir_type: str = _extension(t, FHIR_TYPE_EXT)
        return fhir_type
    if code in ("Element", "BackboneElement"):
        return str(el["path"])  # a nested element: its own type, addressed by its path
    return code


def _table(sd: JsonObj, valuesets: _ValueSets) -> dict[str, dict[str, JsonObj]]:
    """The element tables of one StructureDefinition, keyed by owner path."""
    tables: dict[str, dict[str, JsonObj]] = {sd["type"]: {}}
    for el in sd["snapshot"]["element"][1:]:
        parent, name = el["path"].rsplit(".", 1)
        if ":" in el["id"] or el["max"] == "0":
            continue  # slices and prohibited elements do not occur in base resources
        if "contentReference" in el:
            codes = [el["contentReference"].lstrip("#")]
        else:
            codes = [_type_code(sd, el, t) for t in el["type"]]
        base: JsonObj = {}
        if el["min"]:
            base["n"] = el["min"]
        if el["max"] != "1":
            base["x"] = el["max"]
        if el.get("isSummary"):
            base["s"] = 1
        if el.get("isModifier"):
            base["m"] = 1
        binding = el.get("binding", {})
        vs_codes = None
        required = binding.get("strength") == "required" and "valueSet" in binding
        if required and "code" in codes:
            vs_codes = valuesets.codes(binding["valueSet"])
        owner = tables.setdefault(parent, {})
        for code in codes:
            entry = {"t": code, **base}
            if name.endswith("[x]"):
                entry["c"] = name[:-3]
                json_name = name[:-3] + code[0].upper() + code[1:]
            else:
                json_name = name
            if code == "code" and vs_codes is not None:
                entry["b"] = binding["valueSet"].split("|", 1)[0]
            owner[json_name] = entry
        if codes[0] == el["path"]:
            tables.setdefault(el["path"], {})
    return tables


def build(shared: Path) -> JsonObj:
    """Build the whole table (a JSON-ready dict) from the bundles in `shared`."""
    resources_sd = _load_definitions(shared / "profiles-resources.json")
    types_sd = _load_definitions(shared / "profiles-types.json")
    valuesets = _ValueSets(shared / "valuesets.json")
    types: dict[str, dict[str, JsonObj]] = {}
    for sd in types_sd.values():
        # Element is abstract but is the type of every `_primitive` sibling (json.html).
        wanted = sd["kind"] == "complex-type" and sd.get("derivation") == "specialization"
        if (wanted and not sd["abstract"]) or sd["id"] == "Element":
            types.update(_table(sd, valuesets))
    resources = sorted(
        sd["type"]
        for sd in resources_sd.values()
        if sd["kind"] == "resource" and not sd["abstract"]
    )
    summary: dict[str, list[str]] = {}
    mandatory: dict[str, list[str]] = {}
    for name in resources:
        table = _table(resources_sd[name], valuesets)
        types.update(table)
        top = table[name]
        summary[name] = sorted(k for k, v in top.items() if v.get("s"))
        mandatory[name] = sorted(k for k, v in top.items() if v.get("n"))
    return {
        "fhirVersion": "4.0.1",
        "source": "HL7 FHIR R4 4.0.1 profiles-resources.json, profiles-types.json, "
        "valuesets.json; regenerate with scripts/generate_r4_structure.py",
        "primitives": _primitives(types_sd),
        "resources": resources,
        "summary": summary,
        "mandatory": mandatory,
        "valuesets": dict(sorted(valuesets.used.items())),
        "types": dict(sorted(types.items())),
    }


def render(data: JsonObj) -> bytes:
    """Compact JSON, one line per top-level key and per type so diffs stay readable."""
    parts = []
    for key, value in data.items():
        if key == "types":
            lines = [
                f"{json.dumps(k)}:{json.dumps(v, separators=(',', ':'), sort_keys=True)}"
                for k, v in value.items()
            ]
            parts.append('"types":{\n' + ",\n".join(lines) + "\n}")
        else:
            parts.append(f"{json.dumps(key)}:{json.dumps(value, separators=(',', ':'))}")
    return ("{\n" + ",\n".join(parts) + "\n}\n").encode("utf-8")


def output_bytes(data: JsonObj) -> tuple[str, bytes]:
    """The file name and bytes to write: gzipped (deterministically) when large."""
    raw = render(data)
    if len(raw) <= GZIP_ABOVE:
        return "r4_structure.json", raw
    return "r4_structure.json.gz", gzip.compress(raw, mtime=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "fhir-r4")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output directory")
    args = parser.parse_args()
    name, payload = output_bytes(build(args.shared))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / name).write_bytes(payload)
    print(f"wrote {args.out / name} ({len(payload):,} bytes)")


if __name__ == "__main__":
    main()
