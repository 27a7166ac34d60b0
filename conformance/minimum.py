"""Structural assertions: `minimumId` and `navigationLinks`.

minimumId (testscript-definitions.html#TestScript.setup.action.assert.minimumId): "the
response contains, at a minimum, the fixture specified by minimumId". Every element of the
fixture must be in the response with the same value; an array item of the fixture must
match some distinct item of the response's array, in any order. The root `id` and `meta`
are left out, because the server assigns them (a fixture created with POST gets a new id).

navigationLinks (#TestScript.setup.action.assert.navigationLinks): the response must be a
Bundle whose `link`s are usable: each has a relation and a URL, there is a `self` link
(search.html#conformance: "the server SHALL return a self link"), and, when the Bundle says
it holds more matches than it carries, a `next` link to page on. `false` checks nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["missing_elements", "navigation_problems"]

_SERVER_ASSIGNED = frozenset({"id", "meta"})
_NO_MATCH = object()


def missing_elements(minimum: Any, actual: Any, limit: int = 10) -> list[str]:
    """Paths of `minimum` not found in `actual` (empty when `actual` holds it all)."""
    problems: list[str] = []
    root = minimum.get("resourceType", "") if isinstance(minimum, dict) else ""
    _check(minimum, actual, str(root), problems, top=True)
    return problems[:limit]


def _check(minimum: Any, actual: Any, path: str, problems: list[str], top: bool = False) -> None:
    if isinstance(minimum, dict):
        if not isinstance(actual, dict):
            problems.append(f"{path or '(root)'}: expected an object, got {_kind(actual)}")
            return
        for key, value in minimum.items():
            if top and key in _SERVER_ASSIGNED:
                continue
            child = f"{path}.{key}" if path else key
            if key not in actual:
                problems.append(f"{child}: missing")
                continue
            _check(value, actual[key], child, problems)
        return
    if isinstance(minimum, list):
        if not isinstance(actual, list):
            problems.append(f"{path}: expected an array, got {_kind(actual)}")
            return
        remaining = list(actual)
        for index, item in enumerate(minimum):
            match = next((c for c in remaining if _contains(item, c)), _NO_MATCH)
            if match is _NO_MATCH:
                problems.append(f"{path}[{index}]: no matching item for {_short(item)}")
            else:
                remaining.remove(match)
        return
    if minimum != actual:
        problems.append(f"{path}: expected {_short(minimum)}, got {_short(actual)}")


def _contains(minimum: Any, actual: Any) -> bool:
    found: list[str] = []
    _check(minimum, actual, "", found)
    return not found


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return _short(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def navigation_problems(bundle: Any) -> list[str]:
    """What is wrong with the navigation links of `bundle` (empty when they are usable)."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        kind = bundle.get("resourceType") if isinstance(bundle, dict) else None
        return [f"expected a Bundle, got {kind or 'no resource'}"]
    links = bundle.get("link") or []
    problems: list[str] = []
    relations: set[str] = set()
    for index, link in enumerate(links):
        relation = link.get("relation") if isinstance(link, dict) else None
        url = link.get("url") if isinstance(link, dict) else None
        if not relation or not url:
            problems.append(f"link[{index}] lacks a relation or a url")
            continue
        relations.add(str(relation))
    if "self" not in relations:
        problems.append("no 'self' link")
    total = bundle.get("total")
    entries = [e for e in bundle.get("entry") or [] if _is_match(e)]
    if isinstance(total, int) and total > len(entries) and "next" not in relations:
        problems.append(f"total is {total} but only {len(entries)} matches and no 'next' link")
    return problems


def _is_match(entry: Any) -> bool:
    search = entry.get("search") if isinstance(entry, dict) else None
    mode = search.get("mode") if isinstance(search, dict) else None
    return mode in (None, "match")
