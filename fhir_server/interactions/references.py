"""The references inside a resource, found and rewritten for a transaction.

http://hl7.org/fhir/R4/http.html#trules: when a transaction assigns an id, every reference
to the entry's `fullUrl` (`urn:uuid:...`, `urn:oid:...`, or an absolute URL) becomes the
new `Type/id`; a conditional reference (`Patient?identifier=sys|val`) becomes the one
resource it matches. A reference is any `reference` string of an object, wherever it sits:
in an element, an extension's `valueReference`, or a contained resource.

A nested Bundle (a document stored by the transaction) is left alone: its references point
at its own entries, not at the transaction's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = [
    "ReferenceHolder",
    "is_conditional_reference",
    "is_placeholder",
    "reference_holders",
    "restore",
    "rewrite",
]

ReferenceHolder = dict[str, Any]
"""An object with a `reference` string (a Reference, wherever it occurs)."""

_CONDITIONAL = re.compile(r"[A-Z][A-Za-z]{1,63}\?.+")


def is_placeholder(reference: str) -> bool:
    """A reference that only means something inside the Bundle."""
    return reference.startswith(("urn:uuid:", "urn:oid:"))


def is_conditional_reference(reference: str) -> bool:
    return _CONDITIONAL.fullmatch(reference) is not None


def reference_holders(resource: dict[str, Any]) -> Iterator[ReferenceHolder]:
    """Every object under `resource` holding a `reference` string, depth first.

    Iterative, so a deep resource cannot exhaust the Python stack (the validator has
    already refused anything deeper than the configured limit)."""
    if resource.get("resourceType") == "Bundle":
        return
    stack: list[Any] = [resource]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("reference"), str):
                yield node
            for key, value in node.items():
                if isinstance(value, dict | list) and not (
                    key == "resource" and isinstance(value, dict)
                    and value.get("resourceType") == "Bundle"
                ):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(item for item in node if isinstance(item, dict | list))


def rewrite(
    holders: list[ReferenceHolder], replacements: dict[str, str]
) -> list[tuple[ReferenceHolder, str]]:
    """Replace every reference found in `replacements`; the (holder, old value) pairs let a
    retried transaction start again from what the client sent."""
    undo = []
    for holder in holders:
        old = holder["reference"]
        new = replacements.get(old)
        if new is not None and new != old:
            holder["reference"] = new
            undo.append((holder, old))
    return undo


def restore(undo: list[tuple[ReferenceHolder, str]]) -> None:
    for holder, old in reversed(undo):
        holder["reference"] = old
