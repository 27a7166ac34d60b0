"""Whether a reference parameter can point a resource at more than one target.

A chain walked from its far end (the SQLite adapter's `chain_walk`) meets each referring
resource once only if every level of the chain holds at most one reference per resource;
this module answers that from the parameter's expression and the R4 element cardinalities
(`Observation.encounter` is 0..1, `Patient.generalPractitioner` is 0..*).
"""

from __future__ import annotations

from functools import cache

from fhir_server.search.expression import (
    Branch,
    Field,
    Index,
    OfType,
    Step,
    Unsupported,
    WhereEquals,
    WhereResolveIs,
    parse,
)
from fhir_server.validation.structure import load_structure

__all__ = ["refers_at_most_once"]


@cache
def refers_at_most_once(expression: str | None, resource_type: str) -> bool:
    """True when `expression`, on a `resource_type` resource, reaches at most one element:
    one branch for the type, every step along it of maximum cardinality 1. False whenever
    that cannot be shown (an expression outside the compiled subset, an unknown element)."""
    if not expression:
        return False
    try:
        branches = parse(expression)
    except Unsupported:
        return False
    applying = [b for b in branches if _applies(b, resource_type)]
    if len(applying) != 1 or applying[0].steps[:1] != (Field(resource_type),):
        return False
    return _single_path(resource_type, applying[0].steps[1:])


def _applies(branch: Branch, resource_type: str) -> bool:
    """Whether a branch may reach into a `resource_type` resource: one rooted at another
    resource type does not; any other root might."""
    first = branch.steps[0] if branch.steps else None
    if isinstance(first, Field) and first.name[:1].isupper() and not branch.from_resource:
        return first.name in (resource_type, "Resource", "DomainResource")
    return True


def _single_path(type_name: str, steps: tuple[Step, ...]) -> bool:
    types = load_structure().types
    position = 0
    current = type_name
    while position < len(steps):
        step = steps[position]
        position += 1
        if isinstance(step, WhereResolveIs | WhereEquals | Index):
            continue  # a filter or an index keeps at most what it is given
        if not isinstance(step, Field):
            return False  # a type filter with no element before it
        typedef = types.get(current)
        if typedef is None:
            return False
        element = typedef.elements.get(step.name)
        following = steps[position] if position < len(steps) else None
        if element is None and isinstance(following, OfType):
            # a choice element named by its base: `value.as(Reference)` is `valueReference`
            typed = following.type_name
            element = typedef.elements.get(step.name + typed[:1].upper() + typed[1:])
            position += 1
        if element is None or (element.max != "1" and not isinstance(following, Index)):
            return False
        current = element.type
    return True
