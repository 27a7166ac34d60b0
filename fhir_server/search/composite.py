"""Composite parameters: component values taken together from one element instance.

``Observation?code-value-quantity=http://loinc.org|8480-6$gt100`` must match a code and a
value of the *same* Observation (or the same component, for ``component-code-value-
quantity``), not any code and any value of the resource (https://hl7.org/fhir/R4/search.html#composite).
So for each element the composite's expression selects, each component expression is
evaluated relative to that element, every component value is normalized by its own
parameter's type into a key tuple (layouts in `entries`), and one `CompositeEntry` is made
per combination.
"""

from __future__ import annotations

import itertools
from typing import Any

from fhir_server.search.compiled import (
    CompiledExpression,
    Focus,
    focus_of_path,
    names_other_resource,
)
from fhir_server.search.engine import EngineExpression
from fhir_server.search.entries import (
    CompositeEntry,
    DateEntry,
    IndexEntry,
    NumberEntry,
    QuantityEntry,
    ReferenceEntry,
    StringEntry,
    TokenEntry,
    UriEntry,
    float_key,
    int_key,
)
from fhir_server.search.expression import Unsupported, parse, split_union
from fhir_server.search.registry import SearchParameterDef, SearchRegistry
from fhir_server.search.walker import Walker, compile_branch

__all__ = ["CompositeExpression", "component_key"]


def _opt_float(value: float | None) -> str:
    return "" if value is None else float_key(value)


def component_key(entry: IndexEntry) -> tuple[str, ...] | None:
    """The key of one component value; None for values a component cannot match on
    (a CodeableConcept.text without a code)."""
    if isinstance(entry, TokenEntry):
        return None if entry.code is None else (entry.system or "", entry.code)
    if isinstance(entry, QuantityEntry):
        low, high = entry.canonical_low, entry.canonical_high
        canonical_value = None if low is None or high is None else (low + high) / 2.0
        return (
            float_key(entry.low),
            float_key(entry.high),
            entry.system or "",
            entry.code or "",
            _opt_float(entry.canonical_low),
            _opt_float(entry.canonical_high),
            entry.canonical_code or "",
            float_key((entry.low + entry.high) / 2.0),
            _opt_float(canonical_value),
        )
    if isinstance(entry, DateEntry):
        return int_key(entry.low), int_key(entry.high)
    if isinstance(entry, NumberEntry):
        middle = (entry.low + entry.high) / 2.0
        return float_key(entry.low), float_key(entry.high), float_key(middle)
    if isinstance(entry, StringEntry):
        return entry.value, entry.exact
    if isinstance(entry, ReferenceEntry):
        parts = (entry.target_type, entry.target_id, entry.url, entry.version)
        return tuple(p or "" for p in parts)
    if isinstance(entry, UriEntry):
        return (entry.value,)
    return None


_Components = tuple[tuple[str, str], ...]  # (expression, component parameter type)


class _Source:
    """One top-level branch of the composite's expression, with its components compiled
    for the elements it reaches (per engine node path, lazily, when it is not a walker)."""

    __slots__ = ("_by_path", "_components", "_engine", "_fast", "_walkers", "resource_type")

    def __init__(self, piece: str, components: _Components, resource_type: str, fast: bool) -> None:
        self._components = components
        self._fast = fast
        self.resource_type = resource_type
        self._by_path: dict[str, list[CompiledExpression]] = {}
        self._walkers: list[tuple[Walker, list[CompiledExpression]]] = []
        self._engine: EngineExpression | None = None
        walkers = self._compile(piece) if fast else None
        if walkers is None:
            self._engine = EngineExpression(piece)
            return
        for walker in walkers:
            focus = Focus(walker.type, walker.path, resource_type)
            self._walkers.append((walker, self._parts(focus)))

    @property
    def uses_engine(self) -> bool:
        return self._engine is not None

    def _compile(self, piece: str) -> list[Walker] | None:
        try:
            walkers: list[Walker] = []
            for branch in parse(piece):
                compiled = compile_branch(
                    branch, self.resource_type, self.resource_type, self.resource_type
                )
                if not isinstance(compiled, list):
                    return None
                walkers.extend(compiled)
            return walkers
        except Unsupported:
            return None

    def _parts(self, focus: Focus) -> list[CompiledExpression]:
        return [
            CompiledExpression(text, kind, focus, fast_path=self._fast)
            for text, kind in self._components
        ]

    def elements(self, resource: Any) -> list[tuple[Any, list[CompiledExpression]]]:
        if self._engine is None:
            return [
                (v, parts)
                for walker, parts in self._walkers
                for v in walker.run(resource, resource)
            ]
        found = []
        for _type, value, path in self._engine.evaluate_nodes(resource, resource):
            if path is None or not isinstance(value, dict):
                continue
            parts = self._by_path.get(path)
            if parts is None:
                parts = self._by_path[path] = self._parts(focus_of_path(path, self.resource_type))
            found.append((value, parts))
        return found


class CompositeExpression:
    """The `CompositeEntry` values of one composite parameter on one resource type."""

    __slots__ = ("_sources", "engine_branches", "walker_branches")

    def __init__(
        self,
        param: SearchParameterDef,
        registry: SearchRegistry,
        resource_type: str,
        *,
        fast_path: bool = True,
    ) -> None:
        parts: list[tuple[str, str]] = []
        for component in param.components:
            definition = registry.by_url(component.definition)
            if definition is None or definition.type in ("composite", "special"):
                raise Unsupported(f"component {component.definition} of {param.code}")
            parts.append((component.expression, definition.type))
        expression = param.expression or ""
        self._sources = [
            _Source(piece, tuple(parts), resource_type, fast_path)
            for piece in split_union(expression)
            if not names_other_resource(piece, resource_type)
        ]
        self.engine_branches = sum(1 for s in self._sources if s.uses_engine)
        self.walker_branches = len(self._sources) - self.engine_branches

    def extract(self, code: str, resource: Any, out: list[IndexEntry]) -> None:
        for source in self._sources:
            for value, parts in source.elements(resource):
                if not all(part.may_match(value) for part in parts):
                    continue  # a component without a value: no combination at all
                keys: list[list[tuple[str, ...]]] = []
                for part in parts:
                    found: list[IndexEntry] = []
                    part.extract(code, value, resource, found)
                    part_keys = [k for e in found if (k := component_key(e)) is not None]
                    if not part_keys:
                        break  # every component must have a value
                    keys.append(list(dict.fromkeys(part_keys)))
                else:
                    out.extend(CompositeEntry(code, combo) for combo in itertools.product(*keys))
