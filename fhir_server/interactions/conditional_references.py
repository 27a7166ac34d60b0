"""Conditional references (`Patient?identifier=sys|val`, http.html#trules): each becomes the
`Type/id` of the one current resource its criteria match; none or several is 412.

A transaction resolves its own (transaction_plan), setting aside what its DELETEs remove. A
create, update or patch, alone or in a batch, resolves them here, as HAPI FHIR does with
its inline match URLs, rather than store a reference that no reader can follow.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any
from urllib.parse import parse_qsl

from fhir_server.errors import BadRequest, PreconditionFailed
from fhir_server.interactions.conditional import find_matches
from fhir_server.interactions.context import Context
from fhir_server.interactions.references import (
    is_conditional_reference,
    reference_holders,
    rewrite,
)
from fhir_server.resource_json import dump
from fhir_server.resource_types import is_resource_type

__all__ = ["reference_target", "resolve_conditional_references"]


async def reference_target(
    ctx: Context, reference: str, deleting: Collection[tuple[str, str]] = ()
) -> str:
    """The `Type/id` a conditional reference stands for; `deleting` (type, id) pairs are
    not matches (a transaction's own deletes)."""
    rtype, _, query = reference.partition("?")
    if not is_resource_type(rtype):
        raise BadRequest(f"The conditional reference '{reference[:120]}' names no type")
    criteria = parse_qsl(query, keep_blank_values=True)
    try:
        found = await find_matches(ctx, rtype, criteria, ignored=len(deleting))
    except BadRequest as exc:  # its location is the criteria's, not the resource's
        raise BadRequest(
            f"The conditional reference '{reference[:120]}' is not valid: {exc.diagnostics}"
        ) from exc
    matches = [m for m in found if (m.resource_type, m.id) not in deleting]
    if len(matches) != 1:
        raise PreconditionFailed(
            f"The conditional reference '{reference[:120]}' must match exactly one "
            f"resource; it matched {'none' if not matches else 'more than one'}"
        )
    return f"{rtype}/{matches[0].id}"


# A conditional reference as orjson writes one (no spaces; the key as is): found in the
# serialized resource in ~3 us, where walking it costs ~13 us, and nearly every write has
# none.
_CONDITIONAL_IN_JSON = re.compile(rb'"reference":"[A-Z][A-Za-z]{1,63}\?')


async def resolve_conditional_references(ctx: Context, resource: dict[str, Any]) -> None:
    """Replace, in `resource`, each conditional reference by its target."""
    if _CONDITIONAL_IN_JSON.search(dump(resource)) is None:
        return
    holders = reference_holders(resource)
    targets: dict[str, str] = {}
    for holder in holders:
        reference = holder["reference"]
        if is_conditional_reference(reference) and reference not in targets:
            targets[reference] = await reference_target(ctx, reference)
    if targets:
        rewrite(holders, targets)
