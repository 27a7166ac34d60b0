"""FHIR XML over HTTP: bodies in, responses out, errors alike (http.html#mime-type, xml.html).

Responses are read here with lxml and XPath, not with the server's own XML code, so a
mistake made the same way in both directions cannot hide.
"""

from __future__ import annotations

import httpx
import pytest
from lxml import etree

from tests.api.resources import FHIR_JSON, patient

NS = {"f": "http://hl7.org/fhir", "h": "http://www.w3.org/1999/xhtml"}
XML = {"Content-Type": "application/fhir+xml", "Accept": "application/fhir+xml"}

# Element ids, an extension on a repeating primitive, a narrative and a contained resource:
# everything FHIR XML carries in attributes or wrappers rather than in plain elements.
PATIENT_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment, which FHIR XML may carry and which holds no content -->
<Patient xmlns="http://hl7.org/fhir">
  <text>
    <status value="generated"/>
    <div xmlns="http://www.w3.org/1999/xhtml"><p>Peter <b>Chalmers</b></p></div>
  </text>
  <contained>
    <Organization>
      <id value="org1"/>
      <name value="Burgers University Medical Center"/>
    </Organization>
  </contained>
  <identifier id="mrn">
    <system value="urn:oid:1.2.36.146.595.217.0.1"/>
    <value value="12345"/>
  </identifier>
  <active value="true"/>
  <name>
    <family value="Chalmers"/>
    <given value="Peter"/>
    <given id="g2" value="James">
      <extension url="http://example.org/fhir/StructureDefinition/name-source">
        <valueCode value="passport"/>
      </extension>
    </given>
  </name>
  <gender value="male"/>
  <birthDate value="1974-12-25"/>
  <multipleBirthInteger value="2"/>
  <managingOrganization>
    <reference value="#org1"/>
  </managingOrganization>
</Patient>
"""

EXPECTED_JSON = {
    "resourceType": "Patient",
    "text": {
        "status": "generated",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Peter <b>Chalmers</b></p></div>',
    },
    "contained": [
        {
            "resourceType": "Organization",
            "id": "org1",
            "name": "Burgers University Medical Center",
        }
    ],
    "identifier": [{"id": "mrn", "system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345"}],
    "active": True,
    "name": [
        {
            "family": "Chalmers",
            "given": ["Peter", "James"],
            "_given": [
                None,
                {
                    "id": "g2",
                    "extension": [
                        {
                            "url": "http://example.org/fhir/StructureDefinition/name-source",
                            "valueCode": "passport",
                        }
                    ],
                },
            ],
        }
    ],
    "gender": "male",
    "birthDate": "1974-12-25",
    "multipleBirthInteger": 2,
    "managingOrganization": {"reference": "#org1"},
}


def _xml(response: httpx.Response) -> etree._Element:
    assert response.headers["content-type"].startswith("application/fhir+xml"), response.text
    return etree.fromstring(response.content)


def _value(root: etree._Element, xpath: str) -> str:
    found = root.xpath(xpath, namespaces=NS)
    assert found, f"nothing at {xpath} in {etree.tostring(root)[:400]!r}"
    return str(found[0])


def _without_meta(resource: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in resource.items() if k not in ("id", "meta")}


async def test_create_in_xml_reads_back_the_same_in_xml_and_json(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("Patient", content=PATIENT_XML, headers=XML)
    assert created.status_code == 201, created.text
    root = _xml(created)
    pid = _value(root, "/f:Patient/f:id/@value")
    assert created.headers["location"].endswith(f"Patient/{pid}/_history/1")

    as_json = await client.get(f"Patient/{pid}")
    assert as_json.status_code == 200
    assert _without_meta(as_json.json()) == EXPECTED_JSON

    as_xml = await client.get(f"Patient/{pid}", headers={"Accept": "application/fhir+xml"})
    root = _xml(as_xml)
    assert _value(root, "/f:Patient/f:meta/f:versionId/@value") == "1"
    assert _value(root, "//f:identifier/@id") == "mrn"  # an element id is an attribute
    assert _value(root, "//f:given[2]/@id") == "g2"
    assert _value(root, "//f:given[2]/@value") == "James"
    assert _value(root, "//f:given[2]/f:extension/f:valueCode/@value") == "passport"
    assert _value(root, "//f:contained/f:Organization/f:id/@value") == "org1"
    assert _value(root, "//f:text/h:div/h:p/h:b/text()") == "Chalmers"
    assert _value(root, "/f:Patient/f:active/@value") == "true"
    # Elements come in the order R4 defines (xml.html), not in the order they were stored.
    names = [etree.QName(e).localname for e in root]
    assert names == [
        "id",
        "meta",
        "text",
        "contained",
        "identifier",
        "active",
        "name",
        "gender",
        "birthDate",
        "multipleBirthInteger",
        "managingOrganization",
    ]


@pytest.mark.parametrize(
    ("how", "content_type"),
    [
        ({"params": {"_format": "xml"}}, "application/fhir+xml"),
        ({"params": {"_format": "application/fhir+xml"}}, "application/fhir+xml"),
        ({"params": {"_format": "text/xml"}}, "application/xml"),
        ({"headers": {"Accept": "application/xml"}}, "application/xml"),
        ({"headers": {"Accept": "application/fhir+json;q=0.5, application/fhir+xml"}}, "xml"),
        ({"headers": {"Accept": "application/fhir+xml;q=0, application/fhir+json"}}, "json"),
        ({"params": {"_format": "json"}, "headers": {"Accept": "application/fhir+xml"}}, "json"),
    ],
)
async def test_xml_is_negotiated_by_format_and_accept(
    client: httpx.AsyncClient, how: dict[str, dict[str, str]], content_type: str
) -> None:
    created = await client.post("Patient", json=patient(), headers=FHIR_JSON)
    response = await client.get(f"Patient/{created.json()['id']}", **how)  # type: ignore[arg-type]
    assert response.status_code == 200
    assert content_type in response.headers["content-type"]
    if "xml" in content_type:
        assert etree.fromstring(response.content).tag == "{http://hl7.org/fhir}Patient"
    else:
        assert response.json()["resourceType"] == "Patient"


async def test_search_bundle_in_xml(client: httpx.AsyncClient) -> None:
    for family in ("Xmlsearch", "Xmlsearch"):
        await client.post("Patient", json=patient(family=family), headers=FHIR_JSON)
    response = await client.get(
        "Patient", params={"gender": "male", "_format": "xml", "_count": "1"}
    )
    assert response.status_code == 200
    root = _xml(response)
    assert _value(root, "/f:Bundle/f:type/@value") == "searchset"
    assert _value(root, "/f:Bundle/f:total/@value") == "2"
    relations = root.xpath("/f:Bundle/f:link/f:relation/@value", namespaces=NS)
    assert "self" in relations and "next" in relations
    entries = root.xpath("/f:Bundle/f:entry/f:resource/f:Patient", namespaces=NS)
    assert len(entries) == 1
    assert _value(root, "//f:entry/f:search/f:mode/@value") == "match"


async def test_errors_are_the_same_operation_outcome_in_xml(client: httpx.AsyncClient) -> None:
    missing = await client.get("Patient/does-not-exist", headers={"Accept": "application/fhir+xml"})
    assert missing.status_code == 404
    root = _xml(missing)
    assert _value(root, "/f:OperationOutcome/f:issue/f:code/@value") == "not-found"
    as_json = await client.get("Patient/does-not-exist")
    assert as_json.json()["issue"][0]["diagnostics"] == _value(
        root, "/f:OperationOutcome/f:issue/f:diagnostics/@value"
    )

    invalid = await client.post(
        "Patient",
        content=b'<Patient xmlns="http://hl7.org/fhir"><gender value="robot"/></Patient>',
        headers=XML,
    )
    assert invalid.status_code == 400  # the R4 validator, as for JSON
    assert _value(_xml(invalid), "//f:issue/f:expression/@value") == "Patient.gender"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (
            b'<Patient xmlns="http://hl7.org/fhir"><nmae><family value="x"/></nmae></Patient>',
            "nmae",
        ),
        (b'<Patient xmlns="http://hl7.org/fhir"><active value="yes"/></Patient>', "active"),
        (b"<Patient><active value='true'/></Patient>", "namespace"),
        (b'<Patient xmlns="http://hl7.org/fhir"><active value="true"/>', "well-formed"),
        (b'<Patient xmlns="http://hl7.org/fhir">text</Patient>', "Text content"),
        (b'<Unicorn xmlns="http://hl7.org/fhir"/>', "Unicorn"),
        (
            b'<!DOCTYPE p [<!ENTITY x "male">]>'
            b'<Patient xmlns="http://hl7.org/fhir"><gender value="male"/></Patient>',
            "DOCTYPE",
        ),
        (
            b'<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/>'
            b'<div xmlns="http://www.w3.org/1999/xhtml">a</div>'
            b'<div xmlns="http://www.w3.org/1999/xhtml">b</div></text></Patient>',
            "div appears twice",
        ),
        (  # an external entity is never read: the parser refuses it
            b'<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
            b'<Patient xmlns="http://hl7.org/fhir"><gender value="&x;"/></Patient>',
            "external entity",
        ),
    ],
)
async def test_bad_xml_is_a_400_outcome_naming_the_problem(
    client: httpx.AsyncClient, body: bytes, where: str
) -> None:
    response = await client.post("Patient", content=body, headers=XML)
    assert response.status_code == 400
    root = _xml(response)
    assert where in _value(root, "//f:issue/f:diagnostics/@value")


async def test_a_narrative_keeps_only_its_own_namespaces(client: httpx.AsyncClient) -> None:
    body = (
        b'<Patient xmlns="http://hl7.org/fhir" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        b' xmlns:foo="urn:foo"><text><status value="generated"/>'
        b'<div xmlns="http://www.w3.org/1999/xhtml"><p>Peter</p></div></text></Patient>'
    )
    created = await client.post(
        "Patient", content=body, headers={"Content-Type": XML["Content-Type"]}
    )
    assert created.status_code == 201, created.text
    div = created.json()["text"]["div"]
    assert div == '<div xmlns="http://www.w3.org/1999/xhtml"><p>Peter</p></div>'


async def test_unsupported_media_types_are_415_and_406(client: httpx.AsyncClient) -> None:
    refused_body = await client.post(
        "Patient", content=PATIENT_XML, headers={"Content-Type": "text/plain"}
    )
    assert refused_body.status_code == 415
    assert refused_body.json()["resourceType"] == "OperationOutcome"
    refused_answer = await client.get("Patient", headers={"Accept": "text/csv"})
    assert refused_answer.status_code == 406
    assert "application/fhir+xml" in refused_answer.json()["issue"][0]["diagnostics"]
    bad_format = await client.get("Patient", params={"_format": "turtle"})
    assert bad_format.status_code == 406
    # text/xml and application/xml bodies are FHIR XML too.
    plain = await client.post(
        "Patient", content=PATIENT_XML, headers={"Content-Type": "text/xml; charset=utf-8"}
    )
    assert plain.status_code == 201
    assert plain.json()["name"][0]["family"] == "Chalmers"


async def test_update_in_xml_with_if_match(client: httpx.AsyncClient) -> None:
    body = PATIENT_XML.replace(b"<Patient xmlns", b'<Patient xmlns="http://hl7.org/fhir" x="1"')
    assert (await client.put("Patient/xml-1", content=body, headers=XML)).status_code == 400
    first = await client.put(
        "Patient/xml-1",
        content=PATIENT_XML.replace(b"<text>", b'<id value="xml-1"/><text>'),
        headers=XML,
    )
    assert first.status_code == 201, first.text
    update = (
        b'<Patient xmlns="http://hl7.org/fhir"><id value="xml-1"/><active value="false"/></Patient>'
    )
    stale = await client.put("Patient/xml-1", content=update, headers={**XML, "If-Match": 'W/"7"'})
    assert stale.status_code == 412
    assert _value(_xml(stale), "//f:issue/f:code/@value") == "conflict"
    fresh = await client.put("Patient/xml-1", content=update, headers={**XML, "If-Match": 'W/"1"'})
    assert fresh.status_code == 200
    assert _value(_xml(fresh), "/f:Patient/f:meta/f:versionId/@value") == "2"
    assert (await client.get("Patient/xml-1")).json()["active"] is False


async def test_pretty_xml_is_indented_and_keeps_the_narrative(client: httpx.AsyncClient) -> None:
    created = await client.post("Patient", content=PATIENT_XML, headers=XML)
    pid = _value(_xml(created), "/f:Patient/f:id/@value")
    compact = await client.get(f"Patient/{pid}", params={"_format": "xml"})
    pretty = await client.get(f"Patient/{pid}", params={"_format": "xml", "_pretty": "true"})
    assert b"\n  <meta>" in pretty.content
    assert b"\n" not in compact.content.split(b"?>", 1)[1].strip()
    assert b"<p>Peter <b>Chalmers</b></p></div>" in pretty.content  # narrative untouched
    strip = etree.XMLParser(remove_blank_text=True)
    assert etree.tostring(etree.fromstring(pretty.content, strip)) == etree.tostring(
        etree.fromstring(compact.content, strip)
    )


async def test_an_r4_only_resource_type_round_trips_in_xml(client: httpx.AsyncClient) -> None:
    # MedicinalProduct exists in R4 but not in R4B; the XML support covers every R4 type.
    body = (
        b'<MedicinalProduct xmlns="http://hl7.org/fhir">'
        b'<name><productName value="Acetaminophen 500 mg"/></name></MedicinalProduct>'
    )
    created = await client.post("MedicinalProduct", content=body, headers=XML)
    assert created.status_code == 201, created.text
    root = _xml(created)
    assert _value(root, "//f:name/f:productName/@value") == "Acetaminophen 500 mg"


async def test_capability_statement_lists_both_formats(client: httpx.AsyncClient) -> None:
    statement = (await client.get("metadata")).json()
    assert {"application/fhir+json", "application/fhir+xml"} <= set(statement["format"])
    as_xml = await client.get("metadata", params={"_format": "xml"})
    formats = _xml(as_xml).xpath("/f:CapabilityStatement/f:format/@value", namespaces=NS)
    assert "application/fhir+xml" in formats


async def test_a_stored_value_xml_cannot_carry_is_a_406_naming_it(
    client: httpx.AsyncClient,
) -> None:
    # U+0001 has no XML 1.0 form. R4 forbids it in strings (datatypes.html#string); if the
    # validator lets it through, the XML answer must say so rather than fail with a 500.
    body = {"resourceType": "Patient", "id": "ctl", "name": [{"family": "a\u0001b"}]}
    stored = await client.put("Patient/ctl", json=body, headers=FHIR_JSON)
    if stored.status_code == 400:
        return  # refused on the way in: nothing unrepresentable is ever stored
    assert stored.status_code == 201
    response = await client.get("Patient/ctl", headers={"Accept": "application/fhir+xml"})
    assert response.status_code == 406
    root = _xml(response)
    assert _value(root, "//f:issue/f:expression/@value") == "Patient.name[0].family"
    assert (await client.get("Patient/ctl")).json()["name"][0]["family"] == "a\u0001b"


async def test_values_are_trimmed_on_reading_but_strings_keep_their_spaces(
    client: httpx.AsyncClient,
) -> None:
    """xml.html: readers SHOULD trim attribute values; a string's spaces are its text."""
    body = (
        b'<Patient xmlns="http://hl7.org/fhir"><active value=" true "/>'
        b'<name><family value="  Doe  "/></name><gender value="male "/>'
        b'<birthDate value=" 1970-01-01"/></Patient>'
    )
    created = await client.post(
        "Patient", content=body, headers={**XML, "Accept": "application/fhir+json"}
    )
    assert created.status_code == 201, created.text
    stored = created.json()
    assert stored["active"] is True and stored["gender"] == "male"
    assert stored["birthDate"] == "1970-01-01"
    assert stored["name"] == [{"family": "  Doe  "}]


async def test_a_value_of_whitespace_alone_is_refused(client: httpx.AsyncClient) -> None:
    """formats.html: a value holds at least one character that is not whitespace."""
    xml = b'<Patient xmlns="http://hl7.org/fhir"><name><family value="   "/></name></Patient>'
    as_xml = await client.post("Patient", content=xml, headers=XML)
    assert as_xml.status_code == 400
    as_json = await client.post(
        "Basic", json={"resourceType": "Basic", "code": {"text": " \t "}}, headers=FHIR_JSON
    )
    assert as_json.status_code == 400
    assert "whitespace alone" in as_json.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    "body",
    [
        '<?xml version="1.0" encoding="UTF-16"?><Basic xmlns="http://hl7.org/fhir">'
        '<code><text value="x"/></code></Basic>'.encode("utf-16"),
        b'<?xml version="1.0" encoding="ISO-8859-1"?><Basic xmlns="http://hl7.org/fhir">'
        b'<code><text value="Gr\xfc\xdfe"/></code></Basic>',
    ],
    ids=["utf-16", "iso-8859-1"],
)
async def test_xml_in_another_encoding_is_415(client: httpx.AsyncClient, body: bytes) -> None:
    """xml.html: FHIR XML SHALL be exchanged in UTF-8, whatever the document declares."""
    response = await client.post("Basic", content=body, headers=XML)
    assert response.status_code == 415
    assert (await client.get("Basic", params={"_summary": "count"})).json()["total"] == 0
