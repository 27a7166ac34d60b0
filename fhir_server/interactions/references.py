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
from collections.abc import Mapping
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

_CONDITIONAL = re.compile(r"[A-Z][A-Za-z]{1,63}\?.*")


def is_placeholder(reference: str) -> bool:
    """A reference that only means something inside the Bundle."""
    return reference.startswith(("urn:uuid:", "urn:oid:"))


def is_conditional_reference(reference: str) -> bool:
    return _CONDITIONAL.fullmatch(reference) is not None


def reference_holders(resource: dict[str, Any]) -> list[ReferenceHolder]:
    """Every object under `resource` holding a `reference` string, in document order.

    Recursive: only ever called on resources the validator has accepted, which bounds
    their depth (FHIR_MAX_JSON_DEPTH), so the Python stack is safe. This walk runs for
    every resource of every transaction; exact type checks keep it to a few microseconds.
    """
    found: list[ReferenceHolder] = []
    if resource.get("resourceType") != "Bundle":
        _walk(resource, found)
    return found


def _walk(node: dict[str, Any], found: list[ReferenceHolder]) -> None:
    for key, value in node.items():
        kind = type(value)
        if kind is dict:
            _visit(key, value, found)
        elif kind is list:
            for item in value:
                if type(item) is dict:
                    _visit(key, item, found)


def _visit(key: str, value: dict[str, Any], found: list[ReferenceHolder]) -> None:
    if type(value.get("reference")) is str:
        found.append(value)
    if key == "resource" and value.get("resourceType") == "Bundle":
        return  # a nested Bundle's references are its own
    _walk(value, found)


def rewrite(
    holders: list[ReferenceHolder], replacements: Mapping[str, str]
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
