"""The write-time indexer: a resource in, its search index entries out.

Search values are extracted once, when a resource is written, for every search parameter
of its type (https://hl7.org/fhir/R4/search.html#table), and stored beside it; searches then
only compare normalized entries. Each parameter's FHIRPath expression is compiled once per
resource type (`compiled.CompiledExpression`, `composite.CompositeExpression`) on first
use; `Indexer.index` is pure (no I/O). One Indexer can serve every request: two threads
compiling the same type at once only do the work twice.

Not indexed here:

- ``_id`` and ``_lastUpdated``: the store keeps them as columns of the resource row;
- parameters with no expression (``_text``, ``_content``, ``_query``) and the ``special``
  one (``Location.near``, which needs a geospatial entry kind).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_server.search.compiled import CompiledExpression, Focus
from fhir_server.search.composite import CompositeExpression
from fhir_server.search.convert import Converter
from fhir_server.search.entries import IndexEntry
from fhir_server.search.expression import Unsupported
from fhir_server.search.near import near_entries
from fhir_server.search.registry import SearchParameterDef, SearchRegistry
from fhir_server.search.walker import Runner

__all__ = ["INDEX_FORMAT", "NOT_INDEXED", "Coverage", "Indexer"]

# Kept by the store as columns of the resource row, not as index entries.
NOT_INDEXED = frozenset({"_id", "_lastUpdated"})

# The version of what `Indexer.index` makes of a resource, recorded per tenant so that an
# operator learns when an upgrade needs `fhir-server reindex`. Raise it with every change
# that makes an already indexed resource's entries differ.
#   1: anything indexed before the version was recorded;
#   2: implicit code systems of required bindings, one token row per code (2026-11-27);
#   3: Ranges and Quantities with a comparator marked as true ranges (2026-11-27).
INDEX_FORMAT = 3


@dataclass(frozen=True, slots=True)
class Coverage:
    """How a resource type's expressions compiled: top-level union branches that run as
    element walkers, and those left to the FHIRPath engine."""

    walker_branches: int
    engine_branches: int
    engine_params: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything to run for one resource type, laid out for one tight loop: the walkers
    of every plain parameter flattened, then engine branches, then composites."""

    walks: tuple[tuple[str, str | None, Runner, Converter], ...]
    engines: tuple[tuple[str, CompiledExpression], ...]
    composites: tuple[tuple[str, CompositeExpression], ...]
    coverage: Coverage


class Indexer:
    """Extracts `IndexEntry` values from resources, per the parameters of a registry.

    ``fast_path=False`` evaluates every expression with the FHIRPath engine: the reference
    the compiled walkers are tested against, and a switch for diagnosing a disagreement.
    """

    __slots__ = ("_fast_path", "_plans", "registry")

    def __init__(self, registry: SearchRegistry, *, fast_path: bool = True) -> None:
        self.registry = registry
        self._fast_path = fast_path
        self._plans: dict[str, _Plan] = {}

    def index(self, resource: dict[str, Any]) -> list[IndexEntry]:
        """The index entries of ``resource`` (parsed JSON: dicts and lists), without
        duplicates, in a stable order.

        Numbers may be ints, floats or ``Decimal`` (see `normalize.decimal_range` for the
        precision a float keeps). Raises `engine.SearchExpressionError` when a custom
        parameter's expression fails on this resource.
        """
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str):
            raise ValueError("a resource needs a resourceType")
        plan = self._plans.get(resource_type)
        if plan is None:
            plan = self._plans[resource_type] = self._compile(resource_type)
        out: list[IndexEntry] = []
        for code, first_key, run, convert in plan.walks:
            if first_key is not None and first_key not in resource:
                continue  # most parameters' elements are absent: no walk at all
            for value in run(resource, resource):
                convert(code, value, out)
        for code, expression in plan.engines:
            expression.extract_engine(code, resource, resource, out)
        for code, composite in plan.composites:
            composite.extract(code, resource, out)
        if resource_type == "Location":
            near_entries(resource, out)  # `near` is a "special" parameter, not an expression
        # The same value reached twice (two unions, repeated codings) is one entry.
        return list(dict.fromkeys(out))

    def coverage(self, resource_type: str) -> Coverage:
        """How the expressions of ``resource_type`` compiled (see `Coverage`)."""
        plan = self._plans.get(resource_type)
        if plan is None:
            plan = self._plans[resource_type] = self._compile(resource_type)
        return plan.coverage

    def _compile(self, resource_type: str) -> _Plan:
        focus = Focus(resource_type, resource_type, resource_type)
        walks: list[tuple[str, str | None, Runner, Converter]] = []
        engines: list[tuple[str, CompiledExpression]] = []
        composites: list[tuple[str, CompositeExpression]] = []
        walker_branches = engine_branches = 0
        engine_params: list[str] = []
        for definition in self.registry.for_type(resource_type):
            if not _indexed(definition):
                continue
            assert definition.expression is not None
            code = definition.code
            compiled: CompiledExpression | CompositeExpression
            if definition.type == "composite":
                try:
                    compiled = CompositeExpression(
                        definition, self.registry, resource_type, fast_path=self._fast_path
                    )
                except Unsupported:
                    continue  # a component whose definition is unknown: not searchable
                composites.append((code, compiled))
            else:
                compiled = CompiledExpression(
                    definition.expression, definition.type, focus, fast_path=self._fast_path
                )
                walks += [(code, *step) for step in compiled.walk_steps]
                if compiled.uses_engine:
                    engines.append((code, compiled))
            walker_branches += compiled.walker_branches
            engine_branches += compiled.engine_branches
            if compiled.engine_branches:
                engine_params.append(code)
        coverage = Coverage(walker_branches, engine_branches, tuple(engine_params))
        return _Plan(tuple(walks), tuple(engines), tuple(composites), coverage)


def _indexed(definition: SearchParameterDef) -> bool:
    return (
        definition.code not in NOT_INDEXED
        and definition.expression is not None
        and definition.type != "special"
    )
