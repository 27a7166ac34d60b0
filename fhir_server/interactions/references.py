"""The references inside a resource, found and rewritten for a transaction.

http://hl7.org/fhir/R4/http.html#trules: when a transaction assigns an id, every reference
to the entry's `fullUrl` (`urn:uuid:...`, `urn:oid:...`, or an absolute URL) becomes the
new `Type/id`; a conditional reference (`Patient?identifier=sys|val`) becomes the one
resource it matches. A reference is any `reference` string of an object, wherever it sits:
in an element, an extension's `valueReference`, or a contained resource.

The same page asks for a placeholder to be replaced in "elements of type uri, url, oid,
uuid, and <a href=> & <img src=> in the narrative" too (an Attachment.url naming the
Binary the transaction creates): `placeholder_slots` finds those, typed by the R4
StructureDefinitions, so an Identifier.value (a string) that happens to read `urn:uuid:...`
is left as it is.

A nested Bundle (a document stored by the transaction) is left alone: its references point
at its own entries, not at the transaction's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fhir_server.validation.structure import PRIMITIVE, RESOURCE, TypeDef, load_structure

__all__ = [
    "ReferenceHolder",
    "Undo",
    "is_conditional_reference",
    "is_placeholder",
    "placeholder_slots",
    "reference_holders",
    "restore",
    "rewrite",
    "rewrite_slots",
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


Undo = list[tuple[Any, Any, str]]
"""(container, key, old value) of every rewrite, so a retried transaction starts again
from what the client sent."""


def rewrite(holders: list[ReferenceHolder], replacements: Mapping[str, str]) -> Undo:
    """Replace every reference found in `replacements`."""
    undo: Undo = []
    for holder in holders:
        old = holder["reference"]
        new = replacements.get(old)
        if new is not None and new != old:
            holder["reference"] = new
            undo.append((holder, "reference", old))
    return undo


def restore(undo: Undo) -> None:
    for container, key, old in reversed(undo):
        container[key] = old


# R4 primitive types whose values are URIs (the ones http.html#trules names).
_URI_TYPES = frozenset({"uri", "url", "canonical", "oid", "uuid"})
_NARRATIVE_LINK = re.compile(r"""(\s(?:href|src)\s*=\s*)(["'])(urn:(?:uuid|oid):[^"']+)\2""")


def placeholder_slots(resource: dict[str, Any]) -> list[tuple[Any, Any]]:
    """(container, key) of every uri-typed value holding a `urn:uuid:`/`urn:oid:`
    placeholder, and of every narrative div linking to one, in document order."""
    found: list[tuple[Any, Any]] = []
    types = load_structure().types
    rtype = resource.get("resourceType")
    if isinstance(rtype, str) and rtype != "Bundle" and rtype in types:
        _slots(resource, types[rtype], types, found)
    return found


def _slots(
    node: dict[str, Any], tdef: TypeDef, types: Mapping[str, TypeDef], found: list[tuple[Any, Any]]
) -> None:
    for key, value in node.items():
        el = tdef.elements.get(key)
        if el is None:
            continue
        items = value if type(value) is list else [value]
        container = value if type(value) is list else node
        for position, item in enumerate(items):
            slot = position if type(value) is list else key
            if el.kind == PRIMITIVE:
                placeholder = type(item) is str and is_placeholder(item)
                if (placeholder and el.type in _URI_TYPES) or (
                    el.type == "xhtml" and type(item) is str and "urn:" in item
                ):
                    found.append((container, slot))
            elif type(item) is dict:
                kind = item.get("resourceType") if el.kind == RESOURCE else el.type
                if isinstance(kind, str) and kind != "Bundle" and kind in types:
                    _slots(item, types[kind], types, found)


def rewrite_slots(slots: list[tuple[Any, Any]], replacements: Mapping[str, str]) -> Undo:
    """Replace the placeholders of `slots` found in `replacements` (in a narrative, the
    links naming them)."""
    undo: Undo = []
    for container, key in slots:
        old = container[key]
        if is_placeholder(old):
            new = replacements.get(old, old)
        else:  # a narrative div

            def link(match: re.Match[str]) -> str:
                target = replacements.get(match.group(3), match.group(3))
                return f"{match.group(1)}{match.group(2)}{target}{match.group(2)}"

            new = _NARRATIVE_LINK.sub(link, old)
        if new != old:
            container[key] = new
            undo.append((container, key, old))
    return undo
