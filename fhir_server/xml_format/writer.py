"""The JSON form to FHIR XML (http://hl7.org/fhir/R4/xml.html), the reverse of `reader`.

Elements are written in the order of the R4 definitions, whatever the order of the JSON
keys; `_name` siblings of primitives become the `id` attribute and `<extension>` children;
an element's `id` and an Extension's `url` become attributes; `Narrative.div` is parsed and
inserted as XHTML. A value that XML cannot carry (a control character, an element R4 does
not define) is a NotAcceptable naming the element: the client can still ask for JSON.
"""

from __future__ import annotations

from itertools import zip_longest
from typing import Any

from lxml import etree

from fhir_server.errors import NotAcceptable
from fhir_server.resource_json import dump
from fhir_server.validation.structure import PRIMITIVE, RESOURCE, ElementDef
from fhir_server.xml_format.schema import (
    FHIR_NS,
    XHTML_NS,
    TypeInfo,
    fhir_tag,
    resource_types,
    safe_parser,
    type_info,
)

__all__ = ["render_xml"]

_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def render_xml(resource: dict[str, Any], *, pretty: bool = False) -> bytes:
    """Serialize a resource (JSON form) as FHIR XML, with the XML declaration."""
    root = _resource(resource, None, "")
    if pretty:
        _indent(root, 0)
    body: bytes = etree.tostring(root, encoding="UTF-8")
    return _DECLARATION + body


def _indent(element: Any, level: int) -> None:
    """Indent the FHIR elements only: lxml's pretty_print would re-flow the XHTML narrative."""
    children = list(element)
    if not children:
        return
    inner = "\n" + "  " * (level + 1)
    element.text = inner
    for child in children:
        if child.tag.startswith(f"{{{FHIR_NS}}}"):
            _indent(child, level + 1)
        child.tail = inner
    children[-1].tail = "\n" + "  " * level


def _refuse(path: str, why: str) -> NotAcceptable:
    return NotAcceptable(f"{path} cannot be written as XML: {why}; ask for JSON", (path,))


def _resource(data: Any, parent: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise _refuse(path or "the body", "it is not a resource")
    rtype = data.get("resourceType")
    if not isinstance(rtype, str) or rtype not in resource_types():
        raise _refuse(path or "the body", f"'{str(rtype)[:40]}' is not an R4 resource type")
    if parent is None:
        element = etree.Element(fhir_tag(rtype), nsmap={None: FHIR_NS})
    else:
        element = etree.SubElement(parent, fhir_tag(rtype))
    _fill(element, data, rtype, path or rtype)
    return element


def _fill(element: Any, data: dict[str, Any], type_name: str, path: str) -> None:
    info = type_info(type_name)
    names: list[tuple[int, str]] = []
    for key in data:
        name = key[1:] if key.startswith("_") else key
        if key == "resourceType" and info.is_resource:
            continue
        if not info.is_resource and _attribute(element, data, info, key, path):
            continue
        el = info.elements.get(name)
        if el is None:
            raise _refuse(f"{path}.{key}", "R4 defines no such element")
        if key.startswith("_") and el.kind != PRIMITIVE:
            raise _refuse(f"{path}.{key}", "only primitives have a '_' sibling")
        if key == name or name not in data:  # `name` and `_name` are written together
            names.append((info.rank[name], name))
    for _, name in sorted(names):
        _element(element, data, info.elements[name], f"{path}.{name}")


def _attribute(element: Any, data: dict[str, Any], info: TypeInfo, key: str, path: str) -> bool:
    """Write Element.id / Extension.url as attributes; False when `key` is not one."""
    if key == "id" or (key == "url" and info.name == "Extension"):
        value = data[key]
        if not isinstance(value, str):
            raise _refuse(f"{path}.{key}", "it must be a string")
        _set(element, key, value, f"{path}.{key}")
        return True
    return False


def _element(parent: Any, data: dict[str, Any], el: ElementDef, path: str) -> None:
    value = data.get(el.name)
    if el.kind == PRIMITIVE:
        extras = data.get(f"_{el.name}")
        if el.is_array:
            values = value if isinstance(value, list) else [] if value is None else [value]
            more = extras if isinstance(extras, list) else [] if extras is None else [extras]
            for index, (item, extra) in enumerate(zip_longest(values, more)):
                _primitive(parent, el, item, extra, f"{path}[{index}]")
        else:
            _primitive(parent, el, value, extras, path)
        return
    items = value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        where = f"{path}[{index}]" if el.is_array else path
        if el.kind == RESOURCE:
            _resource(item, etree.SubElement(parent, fhir_tag(el.name)), where)
        elif isinstance(item, dict):
            _fill(etree.SubElement(parent, fhir_tag(el.name)), item, el.type, where)
        else:
            raise _refuse(where, "an object was expected")


def _primitive(parent: Any, el: ElementDef, value: Any, extra: Any, path: str) -> None:
    if value is None and extra is None:
        return
    if el.type == "xhtml":
        parent.append(_xhtml(value, path))
        return
    element = etree.SubElement(parent, fhir_tag(el.name))
    if isinstance(extra, dict):
        if isinstance(extra.get("id"), str):
            _set(element, "id", extra["id"], path)
        for index, extension in enumerate(extra.get("extension") or ()):
            if not isinstance(extension, dict):
                raise _refuse(f"{path}.extension[{index}]", "an object was expected")
            child = etree.SubElement(element, fhir_tag("extension"))
            _fill(child, extension, "Extension", f"{path}.extension[{index}]")
    if value is not None:
        _set(element, "value", _lexical(value, path), path)


def _lexical(value: Any, path: str) -> str:
    """The XML text of a JSON primitive: booleans and numbers as JSON writes them."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return dump(value).decode()
    raise _refuse(path, "a primitive value was expected")


def _set(element: Any, name: str, value: str, path: str) -> None:
    try:
        element.set(name, value)
    except ValueError as exc:  # control characters have no XML 1.0 form
        raise _refuse(path, "it holds characters XML 1.0 cannot represent") from exc


def _xhtml(value: Any, path: str) -> Any:
    if not isinstance(value, str):
        raise _refuse(path, "the narrative must be an XHTML string")
    try:
        div = etree.fromstring(value.encode("utf-8"), parser=safe_parser())
    except etree.XMLSyntaxError as exc:
        raise _refuse(path, f"the narrative is not well-formed XHTML ({exc.msg})") from exc
    if div.tag != f"{{{XHTML_NS}}}div":
        raise _refuse(path, "the narrative must be a <div> in the XHTML namespace")
    return div
