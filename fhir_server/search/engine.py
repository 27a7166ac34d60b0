"""The FHIRPath engine fallback: fhirpathpy, for expressions the walkers do not cover.

Each expression is parsed once (``fhirpathpy.compile``) and evaluated with the project's
R4 model (`fhirtypes.MODEL`), so choice elements and ``ofType`` resolve as the spec says
(https://hl7.org/fhir/R4/fhirpath.html). Two things are supplied here:

- ``resolve()``, which an index cannot do for real (no I/O at write time): it yields a stub
  resource of the type `walker.reference_type` reads from the reference, which is all that
  ``where(resolve() is Patient)`` needs;
- the conversion of the engine's result nodes into (FHIR type, JSON value) pairs, so that
  `convert.converter_for` normalizes engine and walker results identically.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

import fhirpathpy
from fhirpathpy.engine.nodes import ResourceNode

from fhir_server.errors import UnprocessableEntity
from fhir_server.search.fhirtypes import MODEL, node_type
from fhir_server.search.walker import reference_type

__all__ = ["EngineExpression", "SearchExpressionError", "TypedValue", "focus_node"]

# fhirpathpy is untyped; this is the one entry point into its nodes used here.
_create_node = cast(Callable[..., Any], ResourceNode.create_node)

TypedValue = tuple[str, Any]
"""(FHIR type name, JSON value); the type is "Resource" for a resource of any type."""


def _resolve(inputs: list[Any]) -> list[Any]:
    stubs = []
    for value in inputs:
        found = reference_type(value)
        if found is not None:
            stubs.append(_create_node({"resourceType": found}))
    return stubs


_OPTIONS = {"returnRawData": True, "userInvocationTable": {"resolve": {"fn": _resolve}}}


def focus_node(value: Any, path: str) -> Any:
    """Wrap a JSON value as an engine node whose model path is ``path``, so that paths
    evaluated from it (composite components) resolve choice types."""
    return _create_node(value, path)


class SearchExpressionError(UnprocessableEntity):
    """A search expression the engine cannot parse, or cannot evaluate on a resource: only
    custom SearchParameters can cause it, so it names the expression (422, processing)."""


class EngineExpression:
    """One FHIRPath expression, compiled once, evaluated by fhirpathpy."""

    __slots__ = ("_compiled", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        try:
            self._compiled = fhirpathpy.compile(text, model=MODEL, options=_OPTIONS)
        except Exception as exc:  # fhirpathpy raises bare Exceptions for syntax errors
            raise SearchExpressionError(f"Cannot parse search expression '{text}'") from exc

    def evaluate(self, focus: Any, resource: Any) -> list[TypedValue]:
        """The values of the expression on ``focus`` with ``%resource`` bound to
        ``resource``, each with its FHIR type."""
        return [(t, value) for t, value, _ in self.evaluate_nodes(focus, resource)]

    def evaluate_nodes(self, focus: Any, resource: Any) -> list[tuple[str, Any, str | None]]:
        """Like `evaluate`, with each value's model path (its context for components)."""
        try:
            nodes = self._compiled(focus, {"resource": resource, "rootResource": resource})
        except Exception as exc:  # e.g. "as" over a collection of two
            raise SearchExpressionError(
                f"Cannot evaluate search expression '{self.text}': {exc}"
            ) from exc
        result = []
        for node in nodes:
            if isinstance(node, dict) and node.get("$status") == "error":
                # fhirpathpy returns some errors (single() over two items) as values.
                raise SearchExpressionError(
                    f"Cannot evaluate search expression '{self.text}': {node.get('$error')}"
                )
            type_name, value = _typed(node)
            path = node.path if isinstance(node, ResourceNode) else None
            result.append((type_name, value, path))
        return result


def _typed(node: Any) -> TypedValue:
    if isinstance(node, ResourceNode):
        return node_type(node.path, node.data), node.data
    if isinstance(node, bool):
        return "boolean", node
    if isinstance(node, int):
        return "integer", node
    if isinstance(node, float | Decimal):
        return "decimal", node
    if isinstance(node, dict | list):
        return "BackboneElement", node  # a computed structure: no search type reads it
    return "string", node if isinstance(node, str) else str(node)
