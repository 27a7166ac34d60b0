"""Extended operations: http://hl7.org/fhir/R4/operations.html.

`[base]/$name`, `[base]/[type]/$name`, `[base]/[type]/[id]/$name` (and, for `$meta`,
`.../_history/[vid]/$name`) are routed here by name. Input parameters come from the URL
(GET, or POST with a form) and from a Parameters body (operations.html#executing); each
operation says at which levels it works and refuses the others with a clear outcome.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fhir_server.errors import NotFound
from fhir_server.exchange import FhirResponse
from fhir_server.interactions.context import Context
from fhir_server.interactions.everything import everything
from fhir_server.interactions.meta_ops import meta, meta_add, meta_delete
from fhir_server.interactions.validate_op import validate

__all__ = ["OPERATIONS", "operation"]

OperationHandler = Callable[[Context], Awaitable[FhirResponse]]

# name → handler; the CapabilityStatement lists exactly these.
OPERATIONS: dict[str, OperationHandler] = {
    "validate": validate,
    "meta": meta,
    "meta-add": meta_add,
    "meta-delete": meta_delete,
    "everything": everything,
}


async def operation(ctx: Context) -> FhirResponse:
    name = ctx.request.operation
    handler = OPERATIONS.get(name or "")
    if handler is None:
        raise NotFound(f"This server has no operation ${str(name)[:64]}")
    return await handler(ctx)
