"""The FHIR XML codec (http://hl7.org/fhir/R4/xml.html): JSON form <-> XML, losslessly.

The XML the writer produces is checked with lxml/XPath directly; the reader is checked on
hand-written XML. The order table is compared with its generator when FHIR_SHARED_DIR
points at the R4 definitions.
"""

from __future__ import annotations

import importlib.util
import os
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from fhir_server.errors import BadRequest, NotAcceptable
from fhir_server.xml_format import parse_xml, render_xml

NS = {"f": "http://hl7.org/fhir"}
ABSENT = {"url": "http://example.org/absent", "valueCode": "unknown"}

BUNDLE: dict[str, Any] = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        {
            "fullUrl": "urn:uuid:4c6a3e0e-0000-4000-8000-000000000001",
            "resource": {
                "resourceType": "Observation",
                "id": "bp",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
                "component": [
                    {"code": {"text": "systolic"}, "valueQuantity": {"value": 120.5}},
                    {"code": {"text": "diastolic"}, "valueQuantity": {"value": 80}},
                ],
                "valueBoolean": False,
            },
        },
        {
            "resource": {
                "resourceType": "Patient",
                "name": [{"given": [None, "B"], "_given": [{"extension": [ABSENT]}, None]}],
                "_birthDate": {"id": "bd", "extension": [ABSENT]},
            }
        },
    ],
}


def test_round_trip_keeps_every_json_detail() -> None:
    assert parse_xml(render_xml(BUNDLE)) == BUNDLE


def test_writer_follows_xml_html() -> None:
    root = etree.fromstring(render_xml(BUNDLE))
    obs = root.xpath("//f:Observation", namespaces=NS)[0]
    # Definition order (status before code before value[x] before component), not key order.
    assert [etree.QName(e).localname for e in obs] == [
        "id",
        "status",
        "code",
        "valueBoolean",
        "component",
        "component",
    ]
    assert obs.xpath("f:valueBoolean/@value", namespaces=NS) == ["false"]
    assert obs.xpath("f:component/f:valueQuantity/f:value/@value", namespaces=NS) == ["120.5", "80"]
    given = root.xpath("//f:Patient/f:name/f:given", namespaces=NS)
    assert given[0].get("value") is None and given[1].get("value") == "B"
    assert given[0].xpath("f:extension/@url", namespaces=NS) == ["http://example.org/absent"]
    birth = root.xpath("//f:Patient/f:birthDate", namespaces=NS)[0]
    assert birth.get("id") == "bd" and birth.get("value") is None


@pytest.mark.parametrize(
    ("resource", "where"),
    [
        ({"resourceType": "Patient", "nmae": []}, "Patient.nmae"),
        ({"resourceType": "Patient", "gender": "male\x01"}, "Patient.gender"),
        ({"resourceType": "Unicorn"}, "the body"),
        ({"resourceType": "Patient", "text": {"status": "generated", "div": "<p>x"}}, "div"),
    ],
)
def test_writer_refuses_what_xml_cannot_carry(resource: dict[str, Any], where: str) -> None:
    with pytest.raises(NotAcceptable) as raised:
        render_xml(resource)
    assert where in raised.value.diagnostics


@pytest.mark.parametrize(
    ("xml", "where"),
    [
        (
            b"<Patient xmlns='http://hl7.org/fhir'><gender value='male'/><gender value='female'/>"
            b"</Patient>",
            "Patient.gender cannot repeat",
        ),
        (
            b"<Patient xmlns='http://hl7.org/fhir'><extension><url value='http://x'/></extension>"
            b"</Patient>",
            "Unknown element 'url' in Extension",
        ),
        (
            b"<Patient xmlns='http://hl7.org/fhir'><name><id value='n'/></name></Patient>",
            "Unknown element 'id' in HumanName",
        ),
        (b"<Patient xmlns='http://hl7.org/fhir' id='p'/>", "Unknown attribute 'id'"),
        (
            b"<Patient xmlns='http://hl7.org/fhir'><multipleBirthInteger value='1.5'/></Patient>",
            "not a valid integer",
        ),
        (b"<Patient xmlns='http://hl7.org/fhir'><contained/></Patient>", "exactly one resource"),
        # lxml reads namespaced attributes in quadratic time: 60,000 of them blocked for 9 s
        (
            b"<Patient xmlns='http://hl7.org/fhir' xmlns:x='urn:x'><active value='true' "
            + b" ".join(b"x:a%d='v'" % n for n in range(5000))
            + b"/></Patient>",
            "Patient.active has 5001 attributes",
        ),
    ],
)
def test_reader_refuses_what_r4_does_not_define(xml: bytes, where: str) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_xml(xml)
    assert where in raised.value.diagnostics


def test_reader_ignores_comments_and_foreign_attributes() -> None:
    xml = (
        b'<?xml version="1.0"?><!-- c --><Patient xmlns="http://hl7.org/fhir" '
        b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="x y">'
        b'<!-- c --><active value="true"/><?pi x?></Patient>'
    )
    assert parse_xml(xml) == {"resourceType": "Patient", "active": True}


_SHARED = os.environ.get("FHIR_SHARED_DIR")
_GENERATOR = Path(__file__).resolve().parents[2] / "scripts" / "generate_xml_order.py"


@pytest.mark.skipif(not _SHARED, reason="FHIR_SHARED_DIR is not set (shared/fhir-r4)")
def test_committed_order_table_matches_the_generator() -> None:
    spec = importlib.util.spec_from_file_location("generate_xml_order", _GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fresh = module.render(module.build(Path(str(_SHARED))))
    committed = resources.files("fhir_server").joinpath("data", "r4_xml_order.json").read_bytes()
    assert fresh == committed, "regenerate with scripts/generate_xml_order.py"


def test_too_deep_xml_is_refused_without_parser_advice() -> None:
    xml = b"<Patient xmlns='http://hl7.org/fhir'>" + b"<a>" * 300 + b"</a>" * 300 + b"</Patient>"
    with pytest.raises(BadRequest) as raised:
        parse_xml(xml)
    assert "depth" in raised.value.diagnostics
    assert "XML_PARSE_HUGE" not in raised.value.diagnostics
