"""Put back the element ids that the XML parser of `fhir_server.model` loses.

In FHIR XML an element id is an attribute (`<fixture id="fixture-patient-create">`,
http://hl7.org/fhir/R4/xml.html); in JSON it is an `id` property. TestScripts refer to
fixtures, profiles and responses by these ids, so they must survive parsing. This walks
the XML and its JSON form side by side and copies each missing id.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

__all__ = ["restore_element_ids"]

_FHIR_NS = "http://hl7.org/fhir"


def restore_element_ids(xml: bytes, data: dict[str, Any]) -> None:
    """Copy `id` attributes of complex elements in `xml` into `data` (in place)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(xml, parser=parser)
    except etree.XMLSyntaxError:
        return
    _walk(root, data)


def _fhir_children(element: Any) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions
        qname = etree.QName(child)
        if qname.namespace == _FHIR_NS:
            groups.setdefault(qname.localname, []).append(child)
    return groups


def _walk(element: Any, node: dict[str, Any]) -> None:
    for name, elements in _fhir_children(element).items():
        value = node.get(name)
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        for child, item in zip(elements, items, strict=False):
            if not isinstance(item, dict):
                continue  # a primitive: its id lives in `_name`, which nothing here needs
            if "resourceType" in item:
                # A resource inside a resource is wrapped: <contained><Patient>...</Patient>.
                inner = next((c for c in child if isinstance(c.tag, str)), None)
                if inner is not None:
                    _walk(inner, item)
                continue
            element_id = child.get("id")
            if element_id is not None and "id" not in item:
                item["id"] = element_id
            _walk(child, item)
