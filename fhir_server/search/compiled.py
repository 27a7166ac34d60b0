"""One search expression, compiled once: walkers where possible, the engine for the rest.

An expression is cut at its top-level ``|`` (`expression.split_union`); each branch is
compiled to element walkers (`walker.compile_branch`) when it is in the supported subset,
otherwise evaluated by fhirpathpy (`engine.EngineExpression`). Branches are sent to the
engine one by one rather than re-joined with ``|``: fhirpathpy's union drops the model
type of its nodes, and the type is what picks the converter (https://hl7.org/fhir/R4/search.html).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from fhir_server.search.convert import Converter, converter_for
from fhir_server.search.engine import EngineExpression, focus_node
from fhir_server.search.entries import IndexEntry
from fhir_server.search.expression import (
    Branch,
    ExistsNotEqual,
    Unsupported,
    parse,
    parse_exists_not_equal,
    split_union,
)
from fhir_server.search.fhirtypes import RESOURCE_TYPES, fhir_type_name, lineage
from fhir_server.search.walker import BooleanWalker, Runner, Walker, compile_branch, runner

__all__ = ["CompiledExpression", "Focus", "WalkStep", "focus_of_path", "names_other_resource"]

_LEADING_NAME = re.compile(r"^\(*\s*([A-Z]\w*)")
_ABSTRACT_RESOURCES = ("Resource", "DomainResource")


WalkStep = tuple[str | None, Runner, Converter]
"""(first property, or None when the walk must always run; walker; converter)."""


@dataclass(frozen=True, slots=True)
class Focus:
    """What an expression is evaluated on: the resource root, or an element of a composite
    (``type`` for its children's names, ``path`` for the model lookups)."""

    type: str
    path: str
    resource_type: str

    @property
    def is_root(self) -> bool:
        return self.path == self.resource_type


def focus_of_path(path: str, resource_type: str) -> Focus:
    """The focus for an engine node labelled ``path`` (a type name or a backbone path)."""
    return Focus("BackboneElement" if "." in path else fhir_type_name(path), path, resource_type)


@cache
def _converter(param_type: str, element_type: str, code_system: str | None) -> Converter | None:
    return converter_for(param_type, element_type, code_system)


def _implicit_system(pieces: list[list[Walker | BooleanWalker] | None]) -> str | None:
    """The implicit system of the expression's `code` values: one for the whole expression,
    so that the compiled walkers and the FHIRPath engine (which does not know which element
    a value came from) index alike. None when a code branch has no such system, when two
    disagree, or when a branch needs the engine and its elements are unknown."""
    systems = set()
    for walkers in pieces:
        if walkers is None:
            return None
        systems |= {w.code_system for w in walkers if isinstance(w, Walker) and w.type == "code"}
    return systems.pop() if len(systems) == 1 else None


class CompiledExpression:
    """The values of one expression as index entries of one search type."""

    __slots__ = (
        "_engines",
        "_walkers",
        "code_system",
        "engine_branches",
        "focus",
        "param_type",
        "walker_branches",
    )

    def __init__(self, text: str, param_type: str, focus: Focus, *, fast_path: bool = True) -> None:
        self.param_type = param_type
        self.focus = focus
        self._walkers: list[WalkStep] = []
        self._engines: list[EngineExpression] = []
        self.walker_branches = 0
        self.engine_branches = 0
        pieces = [
            piece
            for piece in split_union(text)
            # e.g. "Person.name" while indexing a Patient
            if not (focus.is_root and names_other_resource(piece, focus.type))
        ]
        compiled_pieces = [_compile_piece(piece, focus) for piece in pieces]
        self.code_system = _implicit_system(compiled_pieces)
        for piece, compiled in zip(pieces, compiled_pieces, strict=True):
            if compiled is None or not fast_path:
                self._engines.append(EngineExpression(_for_engine(piece, focus)))
                self.engine_branches += 1
                continue
            self.walker_branches += 1
            for walker in compiled:
                end_type = "boolean" if isinstance(walker, BooleanWalker) else walker.type
                convert = _converter(param_type, end_type, self.code_system)
                if convert is not None:  # e.g. SampledData under a quantity parameter
                    self._walkers.append((_first_key(walker), runner(walker), convert))

    @property
    def walk_steps(self) -> tuple[WalkStep, ...]:
        """The compiled branches, for callers that run many expressions in one loop."""
        return tuple(self._walkers)

    @property
    def uses_engine(self) -> bool:
        return bool(self._engines)

    def may_match(self, focus: Any) -> bool:
        """False when no branch can yield a value: every walk starts at an absent property
        (a cheap pre-check that spares composites most of their work)."""
        if self._engines:
            return True
        return any(key is None or key in focus for key, _, _ in self._walkers)

    def extract(self, code: str, focus: Any, resource: Any, out: list[IndexEntry]) -> None:
        """Append the entries of ``focus`` (the resource, or a composite's element)."""
        for first_key, run, convert in self._walkers:
            if first_key is not None and first_key not in focus:
                continue  # most parameters' elements are absent: skip the walk entirely
            for value in run(focus, resource):
                convert(code, value, out)
        self.extract_engine(code, focus, resource, out)

    def extract_engine(self, code: str, focus: Any, resource: Any, out: list[IndexEntry]) -> None:
        """Append the entries of the branches left to the FHIRPath engine only."""
        if self._engines:
            node = focus if self.focus.is_root else focus_node(focus, self.focus.path)
            for engine in self._engines:
                for element_type, value in engine.evaluate(node, resource):
                    convert = _converter(self.param_type, element_type, self.code_system)
                    if convert is not None:
                        convert(code, value, out)


def names_other_resource(piece: str, resource_type: str) -> bool:
    """True for a branch that starts from another resource type than ``resource_type``."""
    match = _LEADING_NAME.match(piece)
    if match is None:
        return False
    name = match.group(1)
    return name in RESOURCE_TYPES and name not in lineage(resource_type)


def _for_engine(piece: str, focus: Focus) -> str:
    """``Resource.meta.tag`` -> ``Patient.meta.tag`` for the engine: fhirpathpy 2.2.4 reads
    a leading type name as "resourceType equals", so the abstract bases would match nothing."""
    match = _LEADING_NAME.match(piece)
    if focus.is_root and match is not None and match.group(1) in _ABSTRACT_RESOURCES:
        return piece[: match.start(1)] + focus.type + piece[match.end(1) :]
    return piece


def _compile_piece(piece: str, focus: Focus) -> list[Walker | BooleanWalker] | None:
    """Walkers for one top-level branch, or None when it needs the engine."""
    try:
        branches: list[Branch | ExistsNotEqual] = list(parse(piece))
    except Unsupported:
        special = parse_exists_not_equal(piece)
        if special is None:
            return None
        branches = [special]
    walkers: list[Walker | BooleanWalker] = []
    try:
        for branch in branches:
            compiled = compile_branch(branch, focus.type, focus.path, focus.resource_type)
            if isinstance(compiled, BooleanWalker):
                walkers.append(compiled)
            else:
                walkers.extend(compiled)
    except Unsupported:
        return None
    return walkers


def _first_key(walker: Walker | BooleanWalker) -> str | None:
    if isinstance(walker, BooleanWalker) or walker.from_resource:
        return None  # a boolean is produced even when the element is absent
    return walker.first_key
