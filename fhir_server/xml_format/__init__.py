"""FHIR XML, read and written from the R4 definitions (http://hl7.org/fhir/R4/xml.html).

`parse_xml(bytes) -> dict` gives the JSON form of an XML resource, so XML bodies take the
same path as JSON ones; `render_xml(dict) -> bytes` writes any R4 resource as XML. Both are
driven by the R4 structure table, so every R4 type is covered and nothing is lost on the
way: element ids, extensions on primitives, contained resources, the XHTML narrative.
See docs/architecture.md for why this is not fhir.resources' XML support.
"""

from fhir_server.xml_format.reader import parse_xml
from fhir_server.xml_format.writer import render_xml

__all__ = ["parse_xml", "render_xml"]
