"""Compiling parsed search expressions into element walkers over resource JSON.

A walker is a flat tuple of operations run over the JSON dicts of a resource: take a
child property (choice elements are resolved to their JSON key at compile time, so
``Observation.value.ofType(Quantity)`` becomes the single lookup ``valueQuantity``), take
the n-th item, keep items whose field equals a literal, keep references to a type, keep
resources of a type. Every walker ends at one statically known element type, which is what
picks its entry converter. This is FHIRPath's path navigation
(https://hl7.org/fhir/R4/fhirpath.html#path-selection) for the subset `expression` parses,
without building the engine's node objects -- the reason it is an order of magnitude faster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from fhir_server.search.expression import (
    Branch,
    ExistsNotEqual,
    Field,
    Index,
    OfType,
    Unsupported,
    WhereEquals,
    WhereResolveIs,
)
from fhir_server.search.fhirtypes import (
    PRIMITIVE_TYPES,
    RESOURCE_TYPES,
    children,
    is_subtype,
    lineage,
)
from fhir_server.search.normalize import parse_reference

__all__ = ["BooleanWalker", "Runner", "Walker", "compile_branch", "reference_type", "runner"]

_FIELD, _INDEX, _WHERE_EQUALS, _WHERE_RESOLVE, _RESOURCE_TYPE = range(5)
_ABSTRACT_RESOURCES = ("Resource", "DomainResource")
_REFERENCE_TYPES = ("Reference", "uri")  # canonical, url, ... are uri subtypes

Op = tuple[int, Any]
Runner = Callable[[Any, Any], list[Any]]
"""``(focus, resource) -> values``: a walker, ready to run."""


def reference_type(value: object) -> str | None:
    """The resource type a reference points to, as ``resolve() is T`` tests it.

    A server-side index cannot fetch targets, so the type is read from the reference
    itself: the type segment of a literal or absolute reference, else ``Reference.type``.
    A ``urn:uuid:`` reference with no ``type`` has no known type. The FHIRPath engine
    fallback resolves with this same function.
    """
    if isinstance(value, dict):
        literal = value.get("reference")
        parsed = parse_reference(literal) if isinstance(literal, str) else None
        if parsed is not None and parsed.target_type is not None:
            return parsed.target_type
        declared = value.get("type")
        return declared if isinstance(declared, str) else None
    if isinstance(value, str):
        parsed = parse_reference(value)
        return None if parsed is None else parsed.target_type
    return None


@dataclass(frozen=True, slots=True)
class Walker:
    """A compiled branch: ``ops`` from the focus (or the resource) to elements of ``type``.

    ``path`` is the model path of the elements reached (their context, for composite
    components); ``type`` is their FHIR type, ``"Resource"`` when only the data says which
    resource it is; ``code_system`` the implicit system of ``code`` elements bound to one.
    """

    ops: tuple[Op, ...]
    type: str
    path: str
    from_resource: bool = False
    code_system: str | None = None

    @property
    def first_key(self) -> str | None:
        """The property the walk starts with, so callers can skip absent ones cheaply."""
        if self.ops and self.ops[0][0] == _FIELD:
            key: str = self.ops[0][1]
            return key
        return None

    def run(self, focus: Any, resource: Any) -> list[Any]:
        values: list[Any] = [resource if self.from_resource else focus]
        for code, arg in self.ops:
            if code == _FIELD:
                found: list[Any] = []
                for value in values:
                    if isinstance(value, dict):
                        child = value.get(arg)
                        if child is None:
                            continue
                        if isinstance(child, list):
                            found.extend(child)
                        else:
                            found.append(child)
                values = found
            elif code == _INDEX:
                values = values[arg : arg + 1]
            elif code == _WHERE_EQUALS:
                key, literal = arg
                values = [v for v in values if isinstance(v, dict) and _same(v.get(key), literal)]
            elif code == _WHERE_RESOLVE:
                values = [v for v in values if _resolves_to(v, arg)]
            else:  # _RESOURCE_TYPE
                values = [v for v in values if isinstance(v, dict) and v.get("resourceType") == arg]
            if not values:
                break
        return values


def runner(walker: Walker | BooleanWalker) -> Runner:
    """``walker.run``, or an equivalent closure for the commonest shapes.

    Most search paths are one or two plain property steps (``Observation.status``,
    ``Patient.name.family``); a closure for those skips the generic loop's dispatch, which
    is most of the time of a walk.
    """
    if isinstance(walker, BooleanWalker) or walker.from_resource:
        return walker.run
    if any(code != _FIELD for code, _ in walker.ops):
        return walker.run
    if len(walker.ops) == 1:
        return _one_field(walker.ops[0][1])
    if len(walker.ops) == 2:
        return _two_fields(walker.ops[0][1], walker.ops[1][1])
    return walker.run


def _one_field(key: str) -> Runner:
    def run(focus: Any, resource: Any) -> list[Any]:
        child = focus.get(key) if isinstance(focus, dict) else None
        if child is None:
            return []
        return child if isinstance(child, list) else [child]

    return run


def _two_fields(first: str, second: str) -> Runner:
    def run(focus: Any, resource: Any) -> list[Any]:
        outer = focus.get(first) if isinstance(focus, dict) else None
        if outer is None:
            return []
        found: list[Any] = []
        for item in outer if isinstance(outer, list) else (outer,):
            child = item.get(second) if isinstance(item, dict) else None
            if child is None:
                continue
            if isinstance(child, list):
                found.extend(child)
            else:
                found.append(child)
        return found

    return run


def _same(value: object, literal: str | bool) -> bool:
    # FHIRPath equality never equates a boolean with a string (or 1 with true).
    return type(value) is type(literal) and value == literal


def _resolves_to(value: object, type_name: str) -> bool:
    found = reference_type(value)
    if found is None:
        return False
    return found == type_name or type_name in _ABSTRACT_RESOURCES


@dataclass(frozen=True, slots=True)
class BooleanWalker:
    """``P.exists() and P != literal``, evaluated with FHIRPath's three-valued logic.

    ``paths`` are the walkers of P (one per type of a choice element such as
    ``Patient.deceased``); their values together are P's collection.
    """

    paths: tuple[Walker, ...]
    literal: str | bool

    def run(self, focus: Any, resource: Any) -> list[Any]:
        values = [v for w in self.paths for v in w.run(focus, resource) if v is not None]
        if not values:
            return [False]  # exists() is false, and "false and {}" is false
        if len(values) == 1:
            return [not _same(values[0], self.literal)]
        return [True]  # a collection of two is never equal to one literal


@dataclass(slots=True)
class _State:
    ops: list[Op]
    type: str
    path: str
    code_system: str | None = None


def compile_branch(
    branch: Branch | ExistsNotEqual, focus_type: str, focus_path: str, resource_type: str
) -> list[Walker] | BooleanWalker:
    """Compile one parsed branch for focus elements of ``focus_type`` (model ``focus_path``).

    Returns no walker when the branch starts with another resource type (a multi-resource
    expression such as ``Patient.name | Person.name`` compiled for Person). Raises
    `Unsupported` when the branch needs the FHIRPath engine.
    """
    if isinstance(branch, ExistsNotEqual):
        walkers = compile_branch(branch.path, focus_type, focus_path, resource_type)
        if not isinstance(walkers, list) or not walkers:
            raise Unsupported("exists() over a path of another resource type")
        if any(w.from_resource for w in walkers):
            raise Unsupported("exists() over %resource")
        return BooleanWalker(tuple(walkers), branch.literal)
    steps = list(branch.steps)
    if branch.from_resource:
        state = _State([], resource_type, resource_type)
    else:
        state = _State([], focus_type, focus_path)
        first = steps[0] if steps else None
        if isinstance(first, Field) and first.name[:1].isupper():
            name = first.name
            steps.pop(0)
            if name not in lineage(focus_type):
                if name in RESOURCE_TYPES or name in _ABSTRACT_RESOURCES:
                    return []  # a path of another resource type
                raise Unsupported(f"type name {name} at the start of a path")
    states = [state]
    for step in steps:
        states = _apply(step, states)
        if not states:
            return []
    return [_finish(s, branch.from_resource) for s in states]


def _finish(state: _State, from_resource: bool) -> Walker:
    return Walker(tuple(state.ops), state.type, state.path, from_resource, state.code_system)


def _apply(step: object, states: list[_State]) -> list[_State]:
    if isinstance(step, Field):
        return [s for state in states for s in _field(state, step.name)]
    if isinstance(step, OfType):
        return [s for state in states if (s := _of_type(state, step.type_name)) is not None]
    if isinstance(step, Index):
        if len(states) != 1:
            raise Unsupported("indexing a collection gathered from several choice types")
        (state,) = states
        return [replace(state, ops=[*state.ops, (_INDEX, step.position)])]
    if isinstance(step, WhereEquals):
        return [_where_equals(state, step) for state in states]
    if isinstance(step, WhereResolveIs):
        for state in states:
            if not any(is_subtype(state.type, t) for t in _REFERENCE_TYPES):
                raise Unsupported(f"resolve() on {state.type}")
        op = (_WHERE_RESOLVE, step.type_name)
        return [replace(s, ops=[*s.ops, op]) for s in states]
    raise Unsupported(f"step {step!r}")


def _field(state: _State, name: str) -> list[_State]:
    if state.type in PRIMITIVE_TYPES or state.type == "Resource":
        raise Unsupported(f"child {name} of {state.type}")
    found = children(state.path, name)
    if found is None:
        raise Unsupported(f"{state.path}.{name} is not in the R4 model")
    return [_State([*state.ops, (_FIELD, c.key)], c.type, c.path, c.code_system) for c in found]


def _of_type(state: _State, type_name: str) -> _State | None:
    if state.type == "Resource":
        # Only the data knows which resource this is: filter at run time.
        if type_name in _ABSTRACT_RESOURCES:
            return state
        if type_name in RESOURCE_TYPES:
            return _State([*state.ops, (_RESOURCE_TYPE, type_name)], type_name, type_name)
        return None
    return state if is_subtype(state.type, type_name) else None


def _where_equals(state: _State, step: WhereEquals) -> _State:
    found = children(state.path, step.field) if state.type not in PRIMITIVE_TYPES else None
    if found is None or len(found) != 1 or found[0].type not in PRIMITIVE_TYPES:
        raise Unsupported(f"where({step.field} = ...) on {state.path}")
    op = (_WHERE_EQUALS, (found[0].key, step.literal))
    return replace(state, ops=[*state.ops, op])
