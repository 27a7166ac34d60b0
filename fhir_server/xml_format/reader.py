"""FHIR XML to the JSON form (http://hl7.org/fhir/R4/xml.html, json.html).

The result is the dict a client would have sent as JSON, so an XML body then takes exactly
the JSON path (R4 validation, storage, indexing). The mapping, per xml.html:

- a primitive is `<name value="..." id="...">` with `<extension>` children: `value` becomes
  the JSON value (typed: boolean, number or string), `id` and the extensions go to `_name`;
- a complex element's `id` is an attribute, as is an Extension's `url`;
- a resource inside an element is wrapped: `<contained><Patient>...</Patient></contained>`;
- `Narrative.div` is XHTML, kept as a string.

Element order is not enforced on input (the JSON form has none); everything else that the
R4 definitions do not allow is refused with a 400 naming the element.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any

from lxml import etree

from fhir_server.errors import BadRequest, UnsupportedMediaType
from fhir_server.resource_json import JsonDecimal
from fhir_server.validation.structure import PRIMITIVE, RESOURCE, ElementDef
from fhir_server.xml_format.schema import (
    FHIR_NS,
    XHTML_NS,
    TypeInfo,
    resource_types,
    safe_parser,
    structure,
    type_info,
)

__all__ = ["parse_xml"]

_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_INT64 = 2**63


def parse_xml(xml: bytes) -> dict[str, Any]:
    """Parse a FHIR XML resource into its JSON form; BadRequest when it is not one."""
    _refuse_other_encodings(xml)
    try:
        root = etree.fromstring(xml, parser=safe_parser())
    except etree.XMLSyntaxError as exc:
        raise BadRequest(f"The body is not well-formed XML: {_problem(exc.msg)}") from exc
    if root.getroottree().docinfo.doctype:
        # A DTD is where entity attacks live; FHIR XML never needs one.
        raise BadRequest("XML with a DOCTYPE declaration is not accepted")
    return _resource(root, "")


# xml.html: "XML resources SHALL be exchanged using UTF-8". libxml2 would follow a
# declaration or a byte order mark of another encoding and read the body anyway.
_DECLARED_ENCODING = re.compile(rb"""\s*<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._-]+)""")
_OTHER_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")


def _refuse_other_encodings(xml: bytes) -> None:
    declared = _DECLARED_ENCODING.match(xml.removeprefix(b"\xef\xbb\xbf"))
    encoding = declared.group(1).decode().lower() if declared else "utf-8"
    if xml.startswith(_OTHER_BOMS) or encoding not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("FHIR XML is exchanged in UTF-8 only (xml.html)")


def _problem(message: str) -> str:
    # libxml2 advises its own option past its depth limit; the client can do nothing with it
    return message.split(", use XML_PARSE_HUGE")[0]


def _resource(element: Any, path: str) -> dict[str, Any]:
    qname = etree.QName(element)
    if qname.namespace != FHIR_NS:
        where = f" at {path}" if path else ""
        raise BadRequest(
            f"Expected a FHIR resource in the namespace {FHIR_NS}{where}, "
            f"found <{qname.localname}> in {qname.namespace or 'no namespace'}",
            (path,) if path else (),
        )
    name = qname.localname
    if name not in resource_types():
        raise BadRequest(f"'{name}' is not an R4 resource type", (path,) if path else ())
    data: dict[str, Any] = {"resourceType": name}
    _fill(data, element, name, path or name)
    return data


def _narrative(div: Any) -> str:
    """The div as its own XHTML document: a copy keeps every namespace declared around it
    (the FHIR default, a root's xmlns:xsi), which only the elements in it may keep, so the
    same resource reads to the same JSON however its XML declared them."""
    own = copy.deepcopy(div)
    own.tail = None
    etree.cleanup_namespaces(own)
    return str(etree.tostring(own, encoding="unicode"))


def _fill(data: dict[str, Any], element: Any, type_name: str, path: str) -> None:
    """Read the attributes and child elements of `element` (of `type_name`) into `data`."""
    info = type_info(type_name)
    _attributes(data, element, info.is_resource, type_name, path)
    _no_text(element.text, path)
    repeated: set[str] = set()  # repeating primitives, whose `_name` array may be all null
    for child in element:
        if not isinstance(child.tag, str):
            continue  # an entity reference left unresolved, never content
        _no_text(child.tail, path)
        qname = etree.QName(child)
        name = qname.localname
        el = info.elements.get(name)
        if qname.namespace == XHTML_NS and name == "div" and el is not None:
            if "div" in data:  # Narrative.div is 1..1
                raise BadRequest(f"{path}.div appears twice", (f"{path}.div",))
            data["div"] = _narrative(child)
            continue
        if qname.namespace != FHIR_NS or el is None or _is_attribute(name, info):
            raise BadRequest(f"Unknown element '{name}' in {type_name}", (f"{path}.{name}",))
        if el.type == "xhtml":
            raise BadRequest(f"{path}.{name} must be an XHTML <div>", (f"{path}.{name}",))
        index = _next_index(data, el, path)
        where = f"{path}.{name}[{index}]" if el.is_array else f"{path}.{name}"
        if el.kind == PRIMITIVE:
            _primitive(data, child, el, index, where)
            if el.is_array:
                repeated.add(name)
        elif el.kind == RESOURCE:
            _append(data, el, _contained(child, where))
        else:
            item: dict[str, Any] = {}
            _fill(item, child, el.type, where)
            _append(data, el, item)
    _drop_empty_extras(data, repeated)


def _is_attribute(name: str, info: TypeInfo) -> bool:
    # Element.id and Extension.url are XML attributes; only a resource's id is an element.
    return (name == "id" and not info.is_resource) or (name == "url" and info.name == "Extension")


def _attributes(
    data: dict[str, Any], element: Any, is_resource: bool, type_name: str, path: str
) -> None:
    for name, value in _attribute_items(element, path):
        if name.startswith("{"):
            continue  # xsi:schemaLocation and other foreign attributes carry no FHIR content
        if name == "id" and not is_resource:
            data["id"] = value
        elif name == "url" and type_name == "Extension":
            data["url"] = value
        else:
            raise BadRequest(f"Unknown attribute '{name}' on {path}", (path,))


# A FHIR element carries at most `value`, `id` or `url`, and maybe a foreign attribute
# such as xsi:schemaLocation. More is refused before reading them: lxml reads namespaced
# attribute values in time quadratic in their number (60,000 of them took 9 s, the worker
# blocked throughout).
MAX_ATTRIBUTES = 16


def _attribute_items(element: Any, path: str) -> list[tuple[str, str]]:
    if len(element.attrib) > MAX_ATTRIBUTES:
        raise BadRequest(
            f"{path} has {len(element.attrib)} attributes; a FHIR element has at most a few",
            (path,),
        )
    return list(element.attrib.items())


def _no_text(text: str | None, path: str) -> None:
    if text is not None and text.strip():
        raise BadRequest(f"Text content is not allowed in {path}; values go in @value", (path,))


def _next_index(data: dict[str, Any], el: ElementDef, path: str) -> int:
    """The position the next `el` will take; a second non-repeating one is refused."""
    present = data.get(el.name)
    extras = data.get(f"_{el.name}")
    count = max(_length(present), _length(extras))
    if count and not el.is_array:
        raise BadRequest(f"{path}.{el.name} cannot repeat", (f"{path}.{el.name}",))
    return count


def _length(value: Any) -> int:
    if value is None:
        return 0
    return len(value) if isinstance(value, list) else 1


def _append(data: dict[str, Any], el: ElementDef, item: Any) -> None:
    if el.is_array:
        data.setdefault(el.name, []).append(item)
    else:
        data[el.name] = item


def _contained(element: Any, path: str) -> dict[str, Any]:
    """The one resource inside a resource-typed element (`<contained><Patient>`)."""
    _no_text(element.text, path)
    if element.attrib:
        raise BadRequest(f"{path} takes no attributes", (path,))
    children = [c for c in element if isinstance(c.tag, str)]
    if len(children) != 1:
        raise BadRequest(f"{path} must hold exactly one resource", (path,))
    _no_text(children[0].tail, path)
    return _resource(children[0], path)


def _primitive(data: dict[str, Any], element: Any, el: ElementDef, index: int, path: str) -> None:
    """`<name value id>` + extensions -> `name` and `_name` (json.html#primitive)."""
    _no_text(element.text, path)
    extra: dict[str, Any] = {}
    raw: str | None = None
    for name, text in _attribute_items(element, path):
        if name == "value":
            raw = text
        elif name == "id":
            extra["id"] = text
        elif not name.startswith("{"):
            raise BadRequest(f"Unknown attribute '{name}' on {path}", (path,))
    extensions: list[dict[str, Any]] = []
    for position, child in enumerate(c for c in element if isinstance(c.tag, str)):
        _no_text(child.tail, path)
        qname = etree.QName(child)
        if qname.namespace != FHIR_NS or qname.localname != "extension":
            raise BadRequest(
                f"Only extensions may appear inside {path}", (f"{path}.{qname.localname}",)
            )
        extension: dict[str, Any] = {}
        _fill(extension, child, "Extension", f"{path}.extension[{position}]")
        extensions.append(extension)
    if extensions:
        extra["extension"] = extensions
    if raw is None and not extra:
        raise BadRequest(f"{path} has no value, id or extension", (path,))
    value = None if raw is None else _typed(raw, el.type, path)
    if el.is_array:
        values = data.setdefault(el.name, [])
        extras = data.setdefault(f"_{el.name}", [])
        values.extend([None] * (index - len(values)))
        extras.extend([None] * (index - len(extras)))
        values.append(value)
        extras.append(extra or None)
    else:
        if value is not None:
            data[el.name] = value
        if extra:
            data[f"_{el.name}"] = extra


_KEPT_AS_WRITTEN = frozenset({"string", "markdown"})


def _int64(raw: str) -> int | None:
    """The integer `raw` writes, if it is one that fits 64 bits. Longer digit strings are
    not read at all (Python refuses more than 4,300 digits, and is slow long before)."""
    if _INTEGER.fullmatch(raw) is None or len(raw.removeprefix("-")) > 19:
        return None
    number = int(raw)
    return number if abs(number) < _INT64 else None


def _typed(raw: str, primitive: str, path: str) -> Any:
    """The JSON value of an XML `value` attribute (json.html#primitive)."""
    kind = structure().primitives[primitive].json
    if primitive not in _KEPT_AS_WRITTEN:
        # xml.html: readers SHOULD trim attribute values; a string's spaces are its text
        raw = raw.strip(" \t\r\n")
    if kind == "boolean":
        if raw in ("true", "false"):
            return raw == "true"
        raise BadRequest(f"{path}: '{raw[:40]}' is not a boolean (true or false)", (path,))
    if kind == "integer":
        number = _int64(raw)
        if number is not None:
            return number
        raise BadRequest(f"{path}: '{raw[:40]}' is not a valid {primitive}", (path,))
    if kind == "number":
        if not _DECIMAL.fullmatch(raw):
            raise BadRequest(f"{path}: '{raw[:40]}' is not a valid decimal", (path,))
        number = _int64(raw)
        if number is not None:
            return number
        if not math.isfinite(float(raw)):
            raise BadRequest(f"{path}: '{raw[:40]}' is out of range", (path,))
        return JsonDecimal(raw)  # its text kept: 1.50 stays 1.50
    return raw


def _drop_empty_extras(data: dict[str, Any], names: set[str]) -> None:
    """Drop a `_name` (or `name`) array of repeating primitives that holds only nulls."""
    for name in names:
        values, extras = data.get(name), data.get(f"_{name}")
        if extras is None:
            continue
        if all(e is None for e in extras):
            del data[f"_{name}"]
        if values is not None and all(v is None for v in values):
            del data[name]
