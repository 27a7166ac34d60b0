"""The R4 (4.0.1) structure table: every resource, datatype and backbone element, typed.

The table is generated from the official StructureDefinitions
(http://hl7.org/fhir/R4/profiling.html) by `scripts/generate_r4_structure.py` and shipped as
package data (`fhir_server/data/r4_structure.json`), because a server never has the spec
bundles at run time. It is loaded once, on first use, and shared read-only afterwards.

Element names are JSON names: a choice element such as `Observation.value[x]` appears once per
allowed type (`valueQuantity`, `valueString`, ...), each remembering its choice base `value`
(http://hl7.org/fhir/R4/formats.html#choice).
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

import orjson

__all__ = [
    "COMPLEX",
    "PRIMITIVE",
    "RESOURCE",
    "ElementDef",
    "Primitive",
    "Structure",
    "TypeDef",
    "load_structure",
]

# What an element holds: a JSON primitive, a nested object, or a whole resource.
PRIMITIVE: Final = 0
COMPLEX: Final = 1
RESOURCE: Final = 2

_DATA_FILES = ("r4_structure.json", "r4_structure.json.gz")


@dataclass(frozen=True, slots=True)
class ElementDef:
    """One element of a type, as its JSON property `name`."""

    name: str
    type: str  # primitive code, datatype, backbone path, resource type or "Resource"
    kind: int  # PRIMITIVE, COMPLEX or RESOURCE
    min: int
    max: str  # "1" or "*" in the base specification
    is_array: bool  # json.html: an element repeats (is a JSON array) iff max != "1"
    is_summary: bool
    is_modifier: bool
    choice: str | None  # the choice base (`value` for `valueString`), None otherwise
    value_set: str | None  # required binding of a `code` element, when expanded
    codes: frozenset[str] | None  # the codes of `value_set`


@dataclass(frozen=True, slots=True)
class TypeDef:
    """A resource, complex datatype or backbone element (named by its path)."""

    name: str
    elements: Mapping[str, ElementDef]
    # Each required element (or choice group) with the JSON keys that satisfy it: a primitive
    # is present if it has a value or only extensions (`_name`), json.html#primitive.
    required: tuple[tuple[str, tuple[str, ...]], ...]
    is_resource: bool


@dataclass(frozen=True, slots=True)
class Primitive:
    """A primitive type: its JSON representation and lexical rule (datatypes.html)."""

    name: str
    json: str  # "boolean", "integer", "number" or "string"
    regex: str | None
    max_length: int | None


@dataclass(frozen=True, slots=True)
class Structure:
    """The whole table."""

    types: Mapping[str, TypeDef]
    primitives: Mapping[str, Primitive]
    resource_types: frozenset[str]
    summary: Mapping[str, tuple[str, ...]]
    mandatory: Mapping[str, tuple[str, ...]]
    value_sets: Mapping[str, frozenset[str]]


def _read_data() -> Any:
    folder = resources.files("fhir_server").joinpath("data")
    for name in _DATA_FILES:
        item = folder.joinpath(name)
        if item.is_file():
            raw = item.read_bytes()
            return orjson.loads(gzip.decompress(raw) if name.endswith(".gz") else raw)
    raise FileNotFoundError("fhir_server/data/r4_structure.json is missing; run the generator")


def _element(name: str, raw: Mapping[str, Any], kinds: Mapping[str, int], vs: Any) -> ElementDef:
    type_code: str = raw["t"]
    max_card: str = raw.get("x", "1")
    value_set: str | None = raw.get("b")
    return ElementDef(
        name=name,
        type=type_code,
        kind=kinds.get(type_code, COMPLEX),
        min=int(raw.get("n", 0)),
        max=max_card,
        is_array=max_card != "1",
        is_summary=bool(raw.get("s")),
        is_modifier=bool(raw.get("m")),
        choice=raw.get("c"),
        value_set=value_set,
        codes=vs[value_set] if value_set else None,
    )


def _required(elements: Mapping[str, ElementDef]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    groups: dict[str, list[str]] = {}
    for el in elements.values():
        if el.min < 1:
            continue
        keys = groups.setdefault(f"{el.choice}[x]" if el.choice else el.name, [])
        keys.append(el.name)
        if el.kind == PRIMITIVE:
            keys.append("_" + el.name)
    return tuple((label, tuple(keys)) for label, keys in groups.items())


@cache
def load_structure() -> Structure:
    """The R4 structure table, built on first call and cached for the process."""
    data = _read_data()
    primitives = {
        name: Primitive(name, p["json"], p.get("regex"), p.get("maxLength"))
        for name, p in data["primitives"].items()
    }
    resource_types = frozenset(data["resources"])
    kinds: dict[str, int] = dict.fromkeys(primitives, PRIMITIVE)
    kinds.update(dict.fromkeys(resource_types, RESOURCE))
    kinds["Resource"] = RESOURCE
    value_sets = {url: frozenset(codes) for url, codes in data["valuesets"].items()}
    types: dict[str, TypeDef] = {}
    for type_name, raw_elements in data["types"].items():
        elements = {
            name: _element(name, raw, kinds, value_sets) for name, raw in raw_elements.items()
        }
        types[type_name] = TypeDef(
            name=type_name,
            elements=elements,
            required=_required(elements),
            is_resource=type_name in resource_types,
        )
    return Structure(
        types=types,
        primitives=primitives,
        resource_types=resource_types,
        summary={k: tuple(v) for k, v in data["summary"].items()},
        mandatory={k: tuple(v) for k, v in data["mandatory"].items()},
        value_sets=value_sets,
    )
