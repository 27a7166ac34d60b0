"""Finding the elements a FHIRPath Patch path names (http://hl7.org/fhir/R4/fhirpatch.html).

A patch must know *where* each matched element lives (its parent object or array, and its
key or position) to change it, which a FHIRPath engine does not tell (it returns copies).
So patch paths are walked here over the JSON, with the R4 structure table saying what each
element is: the subset of FHIRPath that patch paths use in practice, parsed by the search
expression parser: `Patient.name[0].given`, `Patient.identifier.where(system='x')`,
`Observation.value.ofType(Quantity)`, and `first()`. Anything else is refused (400) rather
than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fhir_server.errors import BadRequest
from fhir_server.search.expression import (
    Field,
    Index,
    OfType,
    Step,
    Unsupported,
    WhereEquals,
    parse,
)
from fhir_server.validation.structure import COMPLEX, RESOURCE, ElementDef, TypeDef, load_structure

__all__ = ["Slot", "element_def", "locate", "parse_patch_path", "type_of"]

_FIRST = re.compile(r"\.first\(\)")


@dataclass(frozen=True, slots=True)
class Slot:
    """One matched element: `parent[key]` holds it; `owner` is the object whose property
    `name` it is (the same as `parent` unless the element repeats, when parent is the array)."""

    parent: dict[str, Any] | list[Any]
    key: str | int
    owner: dict[str, Any]
    name: str
    element: ElementDef | None  # None for the resource itself

    @property
    def value(self) -> Any:
        return self.parent[self.key]  # type: ignore[index]


def parse_patch_path(path: str) -> tuple[Step, ...]:
    """The steps of one patch path, or BadRequest naming what is supported."""
    # `first()` is `[0]`; a `.first()` inside a string literal would be mangled, but a
    # literal holding that text is not a plausible patch path.
    text = _FIRST.sub("[0]", path)
    try:
        branches = parse(text)
    except (Unsupported, ValueError) as exc:
        raise BadRequest(_unsupported(path)) from exc
    if len(branches) != 1 or branches[0].from_resource:
        raise BadRequest(_unsupported(path))
    steps = branches[0].steps
    if any(not isinstance(step, Field | Index | OfType | WhereEquals) for step in steps):
        raise BadRequest(_unsupported(path))
    return steps


def _unsupported(path: str) -> str:
    return (
        f"The FHIRPath Patch path '{path[:120]}' is not supported: use element names, [n], "
        "first(), ofType(T) and where(element = 'value')"
    )


def type_of(resource_or_element: dict[str, Any], element: ElementDef | None) -> TypeDef | None:
    """The structure of an object: its resource type, or its element's datatype/backbone."""
    types = load_structure().types
    if element is None or element.kind == RESOURCE:
        return types.get(str(resource_or_element.get("resourceType")))
    if element.kind == COMPLEX:
        return types.get(element.type)
    return None


def element_def(type_def: TypeDef, name: str) -> list[ElementDef]:
    """The element `name` of a type, or every variant of the choice element `name`."""
    found = type_def.elements.get(name)
    if found is not None:
        return [found]
    return [e for e in type_def.elements.values() if e.choice == name]


def locate(resource: dict[str, Any], steps: tuple[Step, ...]) -> list[Slot]:
    """Every element the steps select, in document order."""
    rtype = resource.get("resourceType")
    remaining = list(steps)
    if remaining and isinstance(remaining[0], Field) and remaining[0].name == rtype:
        remaining.pop(0)
    current = [Slot({"": resource}, "", resource, "", None)]
    for step in remaining:
        current = _step(current, step)
    return current


def _step(current: list[Slot], step: Step) -> list[Slot]:
    match step:
        case Field(name):
            return [child for slot in current for child in _children(slot, name)]
        case Index(position):
            return current[position : position + 1]
        case WhereEquals(field, literal):
            return [
                s for s in current if isinstance(s.value, dict) and _equals(s.value, field, literal)
            ]
        case OfType(type_name):
            return [s for s in current if s.element is not None and s.element.type == type_name]
    raise BadRequest(f"Unsupported step in a FHIRPath Patch path: {step}")


def _equals(node: dict[str, Any], field: str, literal: str | bool) -> bool:
    value = node.get(field)
    if isinstance(literal, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(literal, bool) and value == literal
    return value == literal


def _children(slot: Slot, name: str) -> list[Slot]:
    node = slot.value
    if not isinstance(node, dict):
        return []
    type_def = type_of(node, slot.element)
    if type_def is None:
        return []
    found: list[Slot] = []
    for element in element_def(type_def, name):
        value = node.get(element.name)
        if isinstance(value, list):
            found += [Slot(value, i, node, element.name, element) for i in range(len(value))]
        elif value is not None:
            found.append(Slot(node, element.name, node, element.name, element))
    return found
