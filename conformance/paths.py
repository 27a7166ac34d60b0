"""Selecting values from a body: FHIRPath `expression`s and XPath/JSONPath `path`s.

TestScript variables and asserts select values with `expression` (FHIRPath,
http://hl7.org/fhirpath/) or `path` (XPath or JSONPath, testscript-definitions.html
#TestScript.variable.path). FHIRPath runs on fhirpathpy with the R4 model.

Paths: the forms public scripts use are walked over the JSON form directly, so they work
whatever format the server answered in:

- XPath steps `fhir:Patient/fhir:name/fhir:family/@value`, with or without the `fhir:`
  prefix and the leading resource type, a 1-based position `fhir:name[2]`, and a final
  attribute (`@value`, `@url`, `@id`); a step ending on a primitive yields its value;
- JSONPath `$.name[0].family`, `.id`, `name[*].given`.

Any other XPath (predicates, axes, functions) is run by lxml over the XML: the original
bytes when the body came as XML, else the resource rendered as XML. A path yields every
match; asserts compare the first, as XPath's string() does.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import orjson
from fhirpathpy import evaluate as fhirpath_evaluate
from fhirpathpy.models import models as fhirpath_models
from lxml import etree

from conformance.content import BodyError, Content, serialize
from conformance.fhirpath_syntax import syntax_error

__all__ = ["PathError", "evaluate_expression", "evaluate_path", "to_text"]

_FHIR_NS = {"fhir": "http://hl7.org/fhir"}
_XPATH_STEP = re.compile(r"^(?:fhir:)?([A-Za-z][A-Za-z0-9_]*)(?:\[(\d+)\])?$")
_JSON_STEP = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+|\*)\]")


class PathError(ValueError):
    """An expression or path that cannot be evaluated (syntax, unsupported form)."""


def to_text(value: Any) -> str:
    """The text form of a selected value, as FHIR writes primitives."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict | list):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()
    return str(value)


def evaluate_expression(expression: str, content: Content) -> list[Any]:
    """Evaluate FHIRPath against a body; every item of the result collection."""
    wrong = syntax_error(expression)
    if wrong is not None:
        raise PathError(f"FHIRPath '{expression}' is not well formed: {wrong}")
    try:
        result = fhirpath_evaluate(content.data, expression, None, fhirpath_models["r4"])
    except Exception as exc:  # fhirpathpy raises bare Exceptions for syntax and type errors
        raise PathError(f"FHIRPath '{expression}' cannot be evaluated: {exc}") from exc
    return list(result)


def evaluate_path(path: str, content: Content) -> list[str]:
    """Evaluate an XPath or JSONPath against a body; the text of every match."""
    text = path.strip()
    if not text:
        raise PathError("the path is empty")
    if _is_xpath(text):
        steps = _simple_xpath(text)
        if steps is not None:
            return [to_text(v) for v in _walk_xpath(steps, content.data)]
        return _lxml_xpath(text, content)
    return [to_text(v) for v in _walk_jsonpath(text, content.data)]


def _is_xpath(path: str) -> bool:
    if path.startswith("$"):  # JSONPath's root, whatever follows (`@` in a filter)
        return False
    return "/" in path or "@" in path or path.startswith("fhir:")


def _simple_xpath(path: str) -> list[tuple[str, int | None]] | None:
    """Steps of a plain child-axis XPath (name, 1-based position), or None if not plain."""
    if path.startswith("//"):
        return None
    parts = path.lstrip("/").split("/")
    steps: list[tuple[str, int | None]] = []
    for index, part in enumerate(parts):
        if part.startswith("@") and index == len(parts) - 1:
            if not re.fullmatch(r"@[A-Za-z]+", part):
                return None
            steps.append((part, None))
            continue
        match = _XPATH_STEP.match(part)
        if match is None:
            return None
        steps.append((match.group(1), int(match.group(2)) if match.group(2) else None))
    return steps


def _children(node: Any, name: str) -> list[Any]:
    if not isinstance(node, dict):
        return []
    if name not in node and node.get("resourceType") == name:
        # The XML wraps a resource in an element named after its type; JSON does not.
        return [node]
    value = node.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _walk_xpath(steps: list[tuple[str, int | None]], data: Any) -> list[Any]:
    nodes = [data]
    for name, position in steps:
        if name.startswith("@"):
            attribute = name[1:]
            selected: list[Any] = []
            for node in nodes:
                if isinstance(node, dict):
                    value = node.get(attribute)
                    if value is not None and not isinstance(value, dict | list):
                        selected.append(value)
                elif attribute == "value":
                    selected.append(node)  # a primitive's value is its @value
            nodes = selected
            continue
        next_nodes: list[Any] = []
        for node in nodes:
            matches = _children(node, name)
            if position is not None:
                matches = matches[position - 1 : position]
            next_nodes.extend(matches)
        nodes = next_nodes
    return nodes


def _walk_jsonpath(path: str, data: Any) -> list[Any]:
    text = path[1:] if path.startswith("$") else path
    if ".." in text:
        raise PathError(f"JSONPath '{path}': recursive descent (..) is not supported")
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos] == ".":
            pos += 1
            continue
        match = _JSON_STEP.match(text, pos)
        if match is None:
            raise PathError(f"unsupported JSONPath '{path}' at '{text[pos:]}'")
        if match.group(1):
            tokens.append(("name", match.group(1)))
        else:
            tokens.append(("index", match.group(2)))
        pos = match.end()
    nodes: list[Any] = [data]
    for kind, step in tokens:
        selected: list[Any] = []
        if kind == "name":
            for node in _flatten(nodes):
                if isinstance(node, dict) and step in node:
                    selected.append(node[step])
                elif isinstance(node, dict) and node.get("resourceType") == step:
                    selected.append(node)  # a leading resource type names the root
        else:
            wildcard = step == "*"
            for node in nodes:
                if isinstance(node, list):
                    selected.extend(node if wildcard else node[int(step) : int(step) + 1])
                elif wildcard or step == "0":
                    selected.append(node)  # a single value stands for a one-item array
        nodes = selected
    return _flatten(nodes)


def _flatten(nodes: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for node in nodes:
        if isinstance(node, list):
            flat.extend(node)
        else:
            flat.append(node)
    return flat


def _lxml_xpath(path: str, content: Content) -> list[str]:
    xml = content.xml
    if xml is None:
        try:
            xml = serialize(content.data, "application/fhir+xml")
        except BodyError as exc:
            raise PathError(f"XPath '{path}' needs XML: {exc}") from exc
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(xml, parser=parser)
    name = etree.QName(root).localname
    if re.match(rf"^(fhir:)?{name}\b", path):
        # lxml evaluates from the root element; a path naming it starts at the document.
        path = f"/{path}"
    try:
        result = root.xpath(path, namespaces=_FHIR_NS)
    except etree.XPathError as exc:
        raise PathError(f"XPath '{path}' cannot be evaluated: {exc}") from exc
    if isinstance(result, list):
        texts: list[str] = []
        for item in result:
            if isinstance(item, str):
                texts.append(str(item))
            elif hasattr(item, "get") and item.get("value") is not None:
                texts.append(str(item.get("value")))
            elif hasattr(item, "itertext"):
                texts.append("".join(item.itertext()))
            else:
                texts.append(str(item))
        return texts
    if isinstance(result, float) and result.is_integer():
        return [str(int(result))]
    return [to_text(result)]
