"""Generate the committed search-parameter tables from the R4 definition bundles.

The server must not read ``shared/fhir-r4`` at run time (a user's machine has none), so
this script distils what search needs into two files inside the package:

- ``fhir_server/search/data/search_parameters.json.gz``: every R4 SearchParameter
  (https://hl7.org/fhir/R4/searchparameter.html) reduced to the fields search uses, plus
  the list of resource types with their base (Resource or DomainResource);
- ``fhir_server/search/data/patient_compartment.json``: per resource type, the search
  parameters that put a resource in the Patient compartment
  (https://hl7.org/fhir/R4/compartmentdefinition-patient.html);
- ``fhir_server/search/data/fhirpath_model.json.gz``: the element type model that the
  expression compiler and the FHIRPath engine navigate with, in fhirpathpy's model format
  (``path2Type``, ``choiceTypePaths``, ``pathsDefinedElsewhere``, ``type2Parent``), built
  from the same StructureDefinitions the server validates against
  (https://hl7.org/fhir/R4/elementdefinition.html);
- ``fhir_server/search/data/code_systems.json``: per element of type ``code`` with a
  required binding to a value set drawn from one code system, that system: the implicit
  system of such a code in a token search (search.html#token), so that
  ``gender=http://hl7.org/fhir/administrative-gender|male`` matches.

Run from the project root::

    python scripts/generate_search_registry.py --shared ../shared/fhir-r4

``tests/unit/search/test_registry_data.py`` reruns `build_tables` on ``FHIR_SHARED_DIR``
and checks that the committed files agree with it.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
from typing import Any

__all__ = ["ERRATA", "build_code_systems", "build_model", "build_tables", "main", "write_tables"]

DATA_DIR = Path(__file__).resolve().parent.parent / "fhir_server" / "search" / "data"
PARAMETERS_FILE = "search_parameters.json.gz"
COMPARTMENT_FILE = "patient_compartment.json"
MODEL_FILE = "fhirpath_model.json.gz"
CODE_SYSTEMS_FILE = "code_systems.json"
_SYSTEM_TYPES = "http://hl7.org/fhirpath/"

# Known mistakes in the published R4 expressions, corrected here so that the indexer sees
# what the spec means: (SearchParameter url, JSON pointer into it, published, corrected).
# ``DateTime`` is FHIRPath's System type, which FHIR's ``dateTime`` elements are not; R5
# publishes this component as ``value.ofType(dateTime)``.
ERRATA: tuple[tuple[str, str, str, str], ...] = (
    (
        "http://hl7.org/fhir/SearchParameter/Observation-code-value-date",
        "/component/1/expression",
        "value.ofType(DateTime) | value.ofType(Period)",
        "value.ofType(dateTime) | value.ofType(Period)",
    ),
)

# Fields kept from each SearchParameter, under their FHIR names, in this order.
_KEPT = (
    "url",
    "code",
    "type",
    "base",
    "expression",
    "target",
    "modifier",
    "comparator",
    "chain",
    "multipleOr",
    "multipleAnd",
    "xpathUsage",
)


def _load(path: Path) -> Any:
    with path.open("rb") as handle:
        return json.load(handle)


def _apply_errata(resource: dict[str, Any]) -> None:
    for url, pointer, published, corrected in ERRATA:
        if resource.get("url") != url:
            continue
        parent: Any = resource
        steps = pointer.strip("/").split("/")
        for step in steps[:-1]:
            parent = parent[int(step)] if isinstance(parent, list) else parent[step]
        last = steps[-1]
        if parent[last] != published:
            # The source changed: fail loudly rather than silently keep a stale fix.
            raise ValueError(f"erratum for {url}{pointer} no longer matches: {parent[last]!r}")
        parent[last] = corrected


def _parameter(resource: dict[str, Any]) -> dict[str, Any]:
    _apply_errata(resource)
    kept: dict[str, Any] = {}
    for name in _KEPT:
        value = resource.get(name)
        if value is None or value == []:
            continue
        if name == "xpathUsage" and value == "normal":
            continue  # the default; only "phonetic"/"nearby"/... are worth a byte
        kept[name] = value
    components = resource.get("component")
    if components:
        kept["component"] = [
            {"definition": c["definition"], "expression": c["expression"]} for c in components
        ]
    return kept


def _resource_types(profiles: dict[str, Any]) -> dict[str, str]:
    """Concrete resource types mapped to their base type (Resource or DomainResource)."""
    types: dict[str, str] = {}
    for entry in profiles["entry"]:
        sd = entry["resource"]
        if sd.get("resourceType") != "StructureDefinition" or sd.get("kind") != "resource":
            continue
        if sd.get("abstract"):
            continue
        types[sd["id"]] = str(sd.get("baseDefinition", "")).rsplit("/", 1)[-1]
    return dict(sorted(types.items()))


def _type_code(code: str) -> str:
    # Element ids and extension urls are typed with FHIRPath system types in R4.
    return "System." + code[len(_SYSTEM_TYPES) :] if code.startswith(_SYSTEM_TYPES) else code


def _model_elements(sd: dict[str, Any], model: dict[str, dict[str, Any]]) -> None:
    for element in sd.get("snapshot", {}).get("element", []):
        path = element["path"]
        if "." not in path:
            continue
        if "contentReference" in element:  # e.g. Questionnaire.item.item
            model["pathsDefinedElsewhere"][path] = element["contentReference"].lstrip("#")
            continue
        types = [_type_code(t["code"]) for t in element.get("type", [])]
        if path.endswith("[x]"):
            stem = path[:-3]
            suffixes = [t[0].upper() + t[1:] for t in types]
            model["choiceTypePaths"][stem] = suffixes
            for type_name, suffix in zip(types, suffixes, strict=True):
                model["path2Type"][stem + suffix] = type_name
        elif len(types) == 1 and types[0] not in ("BackboneElement", "Element"):
            model["path2Type"][path] = types[0]


def build_model(shared: Path) -> dict[str, dict[str, Any]]:
    """The element type model of every datatype and resource, in fhirpathpy's format."""
    model: dict[str, dict[str, Any]] = {
        "choiceTypePaths": {},
        "pathsDefinedElsewhere": {},
        "path2Type": {},
        "type2Parent": {},
    }
    for name in ("profiles-types.json", "profiles-resources.json"):
        for entry in _load(shared / name)["entry"]:
            sd = entry["resource"]
            if sd.get("resourceType") != "StructureDefinition":
                continue
            base = sd.get("baseDefinition")
            if base:
                model["type2Parent"][sd["id"]] = str(base).rsplit("/", 1)[-1]
            # Profiles (SimpleQuantity, MoneyQuantity) only narrow their base's elements.
            if sd.get("derivation") != "constraint" and sd.get("kind") != "primitive-type":
                _model_elements(sd, model)
    return {key: dict(sorted(table.items())) for key, table in model.items()}


def _single_system(value_set: dict[str, Any] | None) -> str | None:
    """The one code system a value set draws every code from, if it has exactly one."""
    if value_set is None:
        return None
    includes = value_set.get("compose", {}).get("include", [])
    systems = {include.get("system") for include in includes}
    if len(systems) != 1 or any("valueSet" in include for include in includes):
        return None
    system: str | None = systems.pop()
    return system


def build_code_systems(shared: Path) -> dict[str, str]:
    """Element path -> the implicit system of its codes (see the module docstring)."""
    value_sets = {
        entry["resource"]["url"]: entry["resource"]
        for entry in _load(shared / "valuesets.json")["entry"]
        if entry["resource"].get("resourceType") == "ValueSet"
    }
    systems: dict[str, str] = {}
    for name in ("profiles-types.json", "profiles-resources.json"):
        for entry in _load(shared / name)["entry"]:
            sd = entry["resource"]
            if sd.get("resourceType") != "StructureDefinition":
                continue
            if sd.get("derivation") == "constraint":
                continue
            for element in sd.get("snapshot", {}).get("element", []):
                binding = element.get("binding", {})
                if [t["code"] for t in element.get("type", [])] != ["code"]:
                    continue
                if binding.get("strength") != "required" or "valueSet" not in binding:
                    continue
                url = str(binding["valueSet"]).split("|", 1)[0]
                system = _single_system(value_sets.get(url))
                if system is not None:
                    systems[element["path"]] = system
    return dict(sorted(systems.items()))


def build_tables(shared: Path) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Return (parameters table, Patient compartment table) built from ``shared``."""
    bundle = _load(shared / "search-parameters.json")
    parameters = [
        _parameter(entry["resource"])
        for entry in bundle["entry"]
        if entry["resource"].get("resourceType") == "SearchParameter"
    ]
    version = "unknown"
    info = shared / "version.info"
    if info.exists():
        for line in info.read_text().splitlines():
            if line.startswith("FhirVersion="):
                version = line.split("=", 1)[1].strip()
    table = {
        "source": {
            "fhirVersion": version,
            "files": ["search-parameters.json", "profiles-resources.json"],
            "generator": "scripts/generate_search_registry.py",
            "errata": [
                {"url": u, "pointer": p, "published": o, "corrected": n} for u, p, o, n in ERRATA
            ],
        },
        "resourceTypes": _resource_types(_load(shared / "profiles-resources.json")),
        "parameters": parameters,
    }
    compartment_def = _load(shared / "compartmentdefinition-patient.json")
    compartment = {
        r["code"]: list(r["param"]) for r in compartment_def["resource"] if r.get("param")
    }
    return table, dict(sorted(compartment.items()))


def _write_gzip(path: Path, data: Any) -> None:
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    # mtime=0 and no file name keep the gzip bytes identical across runs.
    path.write_bytes(gzip.compress(raw.encode("utf-8"), compresslevel=9, mtime=0))


def write_tables(shared: Path, out_dir: Path = DATA_DIR) -> None:
    """Regenerate the four files in ``out_dir`` (byte-for-byte reproducible)."""
    table, compartment = build_tables(shared)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_gzip(out_dir / PARAMETERS_FILE, table)
    _write_gzip(out_dir / MODEL_FILE, build_model(shared))
    text = json.dumps(compartment, indent=1, ensure_ascii=False) + "\n"
    (out_dir / COMPARTMENT_FILE).write_text(text, encoding="utf-8")
    text = json.dumps(build_code_systems(shared), indent=1, ensure_ascii=False) + "\n"
    (out_dir / CODE_SYSTEMS_FILE).write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/fhir-r4"))
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)
    write_tables(args.shared, args.out)
    written = (PARAMETERS_FILE, MODEL_FILE, COMPARTMENT_FILE, CODE_SYSTEMS_FILE)
    print(f"wrote {', '.join(written)} in {args.out}")


if __name__ == "__main__":
    main()
