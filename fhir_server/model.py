"""The only module that imports `fhir.resources` (its R4B models).

The write path validates with the R4 structure generated from the 4.0.1 StructureDefinitions
(`fhir_server.validation`), because the R4B models are lax about JSON primitive types and
lack 18 R4 resource types. The models serve the slow paths that need a full object model:
XML parsing and serialization (http://hl7.org/fhir/R4/xml.html).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from fhir_server.errors import BadRequest, Issue

__all__ = ["parse_xml", "render_xml"]


@cache
def _model_class(resource_type: str) -> Any:
    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError) as exc:
        raise BadRequest(
            f"Resource type '{resource_type}' cannot be read or written as XML"
        ) from exc


def _root_name(xml: bytes) -> str:
    """The local name of the document element, without parsing the whole document."""
    from lxml import etree  # lxml is a dependency of fhir.resources' XML support

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(xml, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise BadRequest(f"The body is not well-formed XML: {exc.msg}") from exc
    return str(etree.QName(root).localname)


def parse_xml(xml: bytes) -> dict[str, Any]:
    """Parse a FHIR XML resource into its JSON form (a dict)."""
    resource_type = _root_name(xml)
    model = _model_class(resource_type)
    try:
        instance = model.model_validate_xml(xml)
    except ValidationError as exc:
        issues = [
            Issue("structure", str(err["msg"]), (_fhirpath(resource_type, err["loc"]),))
            for err in exc.errors()[:20]
        ]
        raise BadRequest(
            issues[0].diagnostics, issues[0].expression, extra_issues=issues[1:]
        ) from exc
    except ValueError as exc:
        raise BadRequest(f"The XML is not a valid FHIR resource: {exc}") from exc
    parsed: dict[str, Any] = orjson.loads(instance.model_dump_json())
    return parsed


def render_xml(resource: dict[str, Any]) -> bytes:
    """Serialize a resource (JSON form) as FHIR XML."""
    model = _model_class(str(resource.get("resourceType")))
    instance = model.model_validate(resource)
    rendered: bytes = instance.model_dump_xml()
    return rendered


def _fhirpath(resource_type: str, loc: tuple[int | str, ...]) -> str:
    path = resource_type
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path
