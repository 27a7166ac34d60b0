"""`_summary` and `_elements`: subsets of a resource (http://hl7.org/fhir/R4/search.html#summary,
http://hl7.org/fhir/R4/search.html#elements).

Pure functions on resources in their JSON (dict) form. They return new top-level dicts and never
mutate their input; nested values are shared with the input, so treat results as read-only or
copy them before changing nested content. The caller decides when a result is a subset and
marks it with `mark_subsetted` (the SUBSETTED tag of http://hl7.org/fhir/R4/search.html#summary).

Which elements are "summary" or mandatory comes from the generated R4 structure table
(`fhir_server.validation.structure`): `isSummary` and `min > 0` of each top-level element.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any, Final

from fhir_server.validation.structure import load_structure

__all__ = [
    "SUBSETTED_TAG",
    "SUMMARY_MODES",
    "mark_subsetted",
    "select_elements",
    "summarize",
]

SUBSETTED_TAG: Final = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
}
SUMMARY_MODES: Final = frozenset({"true", "text", "data", "false"})

# Kept in every subset: without them a client cannot tell what it holds or which version.
_ALWAYS: Final = frozenset({"resourceType", "id", "meta"})


def summarize(resource: dict[str, Any], mode: str) -> dict[str, Any]:
    """The `_summary=<mode>` view of `resource` (mode `count` is a search concern, not here).

    - `true`: elements marked isSummary, plus id, meta and the mandatory top-level elements;
    - `text`: text, id, meta and the mandatory top-level elements;
    - `data`: everything except text;
    - `false`: everything.
    """
    if mode not in SUMMARY_MODES:
        raise ValueError(f"Unknown _summary mode {mode!r}: expected one of true, text, data, false")
    if mode == "false":
        return dict(resource)
    if mode == "data":
        return {k: v for k, v in resource.items() if k not in ("text", "_text")}
    rt = resource.get("resourceType")
    structure = load_structure()
    keep = set(_ALWAYS)
    if isinstance(rt, str):
        keep.update(structure.mandatory.get(rt, ()))
        if mode == "true":
            keep.update(structure.summary.get(rt, ()))
    if mode == "text":
        keep.add("text")
    return _keep(resource, keep)


def select_elements(resource: dict[str, Any], elements: Iterable[str]) -> dict[str, Any]:
    """The `_elements=a,b,...` view of `resource`: the listed top-level elements only.

    Names may be qualified by the type (`Patient.name`) and may name a choice element by its
    base (`value` or `value[x]` select `valueQuantity`, `valueString`, ...). resourceType, id,
    meta and the mandatory elements are always kept: search.html#elements says servers SHOULD
    return mandatory elements whether requested or not.
    """
    rt = resource.get("resourceType")
    rt_name = rt if isinstance(rt, str) else ""
    names = _json_names(rt_name)
    keep = set(_ALWAYS)
    keep.update(load_structure().mandatory.get(rt_name, ()))
    for raw in elements:
        name = raw.strip()
        if rt_name and name.startswith(rt_name + "."):
            name = name[len(rt_name) + 1 :]
        keep.update(names.get(name, (name,)))
    return _keep(resource, keep)


def mark_subsetted(resource: dict[str, Any]) -> dict[str, Any]:
    """A copy of `resource` whose meta.tag holds the SUBSETTED tag (once)."""
    meta = resource.get("meta")
    new_meta: dict[str, Any] = dict(meta) if isinstance(meta, dict) else {}
    tags = new_meta.get("tag")
    tag_list: list[Any] = list(tags) if isinstance(tags, list) else []
    already = any(
        isinstance(tag, dict)
        and tag.get("system") == SUBSETTED_TAG["system"]
        and tag.get("code") == SUBSETTED_TAG["code"]
        for tag in tag_list
    )
    if not already:
        tag_list.append(dict(SUBSETTED_TAG))
    new_meta["tag"] = tag_list
    return {**resource, "meta": new_meta}


def _keep(resource: dict[str, Any], keep: set[str]) -> dict[str, Any]:
    # A primitive's `_name` sibling (its id and extensions) goes wherever `name` goes.
    return {k: v for k, v in resource.items() if k in keep or (k[:1] == "_" and k[1:] in keep)}


@cache
def _json_names(resource_type: str) -> dict[str, tuple[str, ...]]:
    """Element name, choice base and `base[x]` -> the JSON property names they cover."""
    structure = load_structure()
    if resource_type not in structure.resource_types:
        return {}
    type_def = structure.types[resource_type]
    names: dict[str, list[str]] = {}
    for el in type_def.elements.values():
        names.setdefault(el.name, []).append(el.name)
        if el.choice is not None:
            names.setdefault(el.choice, []).append(el.name)
            names.setdefault(el.choice + "[x]", []).append(el.name)
    return {name: tuple(keys) for name, keys in names.items()}
