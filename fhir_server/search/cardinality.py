"""What a reference parameter's elements are: how many, and whether canonical.

A chain walked from its far end (the SQLite adapter's `chain_walk`) meets each referring
resource once only if every level of the chain holds at most one reference per resource;
this module answers that from the parameter's expression and the R4 element cardinalities
(`Observation.encounter` is 0..1, `Patient.generalPractitioner` is 0..*). A canonical
element (`QuestionnaireResponse.questionnaire`) is found by its target's url, which
`interactions.canonical` resolves.
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

__all__ = ["may_hold_canonical", "refers_at_most_once"]


@cache
def refers_at_most_once(expression: str | None, resource_type: str) -> bool:
    """True when `expression`, on a `resource_type` resource, reaches at most one element:
    one branch for the type, every step along it of maximum cardinality 1. False whenever
    that cannot be shown (an expression outside the compiled subset, an unknown element)."""
    applying = _branches(expression, resource_type)
    if applying is None or len(applying) != 1 or applying[0].steps[:1] != (Field(resource_type),):
        return False
    path = _path(resource_type, applying[0].steps[1:])
    return path is not None and path[0]


@cache
def may_hold_canonical(expression: str | None, resource_type: str) -> bool:
    """True when some branch of `expression` on a `resource_type` resource ends at a
    `canonical` element (`QuestionnaireResponse.questionnaire`, or the `definitionCanonical`
    of a choice); False when none can be shown to."""
    for branch in _branches(expression, resource_type) or []:
        if branch.steps[:1] == (Field(resource_type),):
            path = _path(resource_type, branch.steps[1:])
            if path is not None and "canonical" in path[1]:
                return True
    return False


def _branches(expression: str | None, resource_type: str) -> list[Branch] | None:
    """The branches of `expression` that may apply to `resource_type`, None when the
    expression is outside the compiled subset."""
    if not expression:
        return []
    try:
        branches = parse(expression)
    except Unsupported:
        return None
    return [b for b in branches if _applies(b, resource_type)]


def _applies(branch: Branch, resource_type: str) -> bool:
    """Whether a branch may reach into a `resource_type` resource: one rooted at another
    resource type does not; any other root might."""
    first = branch.steps[0] if branch.steps else None
    if isinstance(first, Field) and first.name[:1].isupper() and not branch.from_resource:
        return first.name in (resource_type, "Resource", "DomainResource")
    return True


def _path(type_name: str, steps: tuple[Step, ...]) -> tuple[bool, frozenset[str]] | None:
    """Following `steps` from `type_name`: whether each step reaches at most one element,
    and the types the last may have (several for a choice element named by its base, as
    in `PlanDefinition.action.definition`); None when some step names no known element."""
    types = load_structure().types
    position = 0
    current = type_name
    single = True
    while position < len(steps):
        step = steps[position]
        position += 1
        if isinstance(step, WhereResolveIs | WhereEquals | Index):
            continue  # a filter or an index keeps at most what it is given
        if not isinstance(step, Field):
            return None  # a type filter with no element before it
        typedef = types.get(current)
        if typedef is None:
            return None
        element = typedef.elements.get(step.name)
        following = steps[position] if position < len(steps) else None
        if element is None and isinstance(following, OfType):
            # a choice element named by its base: `value.as(Reference)` is `valueReference`
            typed = following.type_name
            element = typedef.elements.get(step.name + typed[:1].upper() + typed[1:])
            position += 1
        if element is None and position == len(steps):
            choices = [e for e in typedef.elements.values() if e.choice == step.name]
            if choices:
                return single and choices[0].max == "1", frozenset(e.type for e in choices)
        if element is None:
            return None
        single = single and (element.max == "1" or isinstance(following, Index))
        current = element.type
    return single, frozenset({current})
