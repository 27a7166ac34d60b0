"""The input parameters of an operation (http://hl7.org/fhir/R4/operations.html#executing).

Primitive parameters may come in the URL or in a Parameters body; resource parameters only
in the body. A parameter given twice where the operation allows one is a 400, not a guess.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import BadRequest
from fhir_server.interactions.context import Context
from fhir_server.search.query import CONTROL_PARAMS

__all__ = ["is_parameters", "parameter_parts", "single_value", "unknown_url_params", "values"]


def is_parameters(body: dict[str, Any] | None) -> bool:
    return body is not None and body.get("resourceType") == "Parameters"


def parameter_parts(ctx: Context, name: str) -> list[dict[str, Any]]:
    """The `Parameters.parameter` entries called `name` in the body."""
    body = ctx.request.body
    if not is_parameters(body):
        return []
    assert body is not None
    found = []
    for parameter in body.get("parameter") or []:
        if isinstance(parameter, dict) and parameter.get("name") == name:
            found.append(parameter)
    return found


def values(ctx: Context, name: str) -> list[Any]:
    """Every value of the primitive parameter `name`, from the URL and the body."""
    found: list[Any] = [v for k, v in ctx.request.params if k == name]
    for parameter in parameter_parts(ctx, name):
        value = next((v for k, v in parameter.items() if k.startswith("value")), None)
        if value is None:
            raise BadRequest(f"The parameter '{name}' has no value", (name,))
        found.append(value)
    return found


def single_value(ctx: Context, name: str) -> Any | None:
    found = values(ctx, name)
    if len(found) > 1:
        raise BadRequest(f"The parameter '{name}' may be given only once", (name,))
    return found[0] if found else None


def unknown_url_params(ctx: Context, known: set[str]) -> list[str]:
    return [k for k, _ in ctx.request.params if k not in known and k not in CONTROL_PARAMS]
