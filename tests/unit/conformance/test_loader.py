"""Reading TestScripts: JSON, XML (with element ids kept), and finding them in folders."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from conformance.loader import ScriptLoadError, discover, load_script
from conformance.runner import run_scripts
from tests.unit.conformance.conformance_stub import StubFhirServer
from tests.unit.conformance.helpers import PATIENT, results, script

XML_SCRIPT = b"""<?xml version="1.0" encoding="UTF-8"?>
<TestScript xmlns="http://hl7.org/fhir">
  <id value="xml-script"/>
  <url value="http://example.org/TestScript/xml-script"/>
  <name value="XmlScript"/>
  <status value="draft"/>
  <fixture id="fixture-patient">
    <autocreate value="false"/>
    <autodelete value="false"/>
    <resource><reference value="patient.json"/></resource>
  </fixture>
  <profile id="patient-profile">
    <reference value="http://hl7.org/fhir/StructureDefinition/Patient"/>
  </profile>
  <test id="T1">
    <name value="read"/>
    <action>
      <operation>
        <type>
          <system value="http://terminology.hl7.org/CodeSystem/testscript-operation-codes"/>
          <code value="read"/>
        </type>
        <resource value="Patient"/>
        <encodeRequestUrl value="true"/>
        <targetId value="fixture-patient"/>
      </operation>
    </action>
    <action>
      <assert>
        <validateProfileId value="patient-profile"/>
        <warningOnly value="false"/>
      </assert>
    </action>
  </test>
</TestScript>
"""


def test_xml_scripts_keep_their_element_ids(tmp_path: Path) -> None:
    path = tmp_path / "script.xml"
    path.write_bytes(XML_SCRIPT)
    loaded = load_script(path)
    assert loaded.resource["fixture"][0]["id"] == "fixture-patient"
    assert loaded.resource["profile"][0]["id"] == "patient-profile"
    assert loaded.resource["test"][0]["id"] == "T1"
    assert loaded.resource["test"][0]["action"][0]["operation"]["targetId"] == "fixture-patient"
    assert loaded.name == "XmlScript"


def test_json_scripts_and_refusals(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_bytes(orjson.dumps(script()))
    assert load_script(good).resource["id"] == "engine-test"
    patient = tmp_path / "patient.json"
    patient.write_bytes(orjson.dumps(PATIENT))
    with pytest.raises(ScriptLoadError, match="expected a TestScript, found Patient"):
        load_script(patient)
    broken = tmp_path / "broken.json"
    broken.write_bytes(b"{not json")
    with pytest.raises(ScriptLoadError, match="not JSON"):
        load_script(broken)
    with pytest.raises(ScriptLoadError, match="cannot read"):
        load_script(tmp_path / "absent.json")


def test_folders_are_searched_for_testscripts_only(tmp_path: Path) -> None:
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "patient.json").write_bytes(orjson.dumps(PATIENT))
    (tmp_path / "a.json").write_bytes(orjson.dumps(script()))
    (tmp_path / "b.xml").write_bytes(XML_SCRIPT)
    (tmp_path / "notes.txt").write_text("not a script")
    (tmp_path / "bad.xml").write_text("<unclosed")
    named = tmp_path / "fixtures" / "patient.json"
    assert discover([tmp_path]) == [tmp_path / "a.json", tmp_path / "b.xml"]
    assert discover([named]) == [named]  # a named file is taken as given


def test_an_xml_script_runs(tmp_path: Path) -> None:
    path = tmp_path / "script.xml"
    path.write_bytes(XML_SCRIPT)
    (tmp_path / "patient.json").write_bytes(orjson.dumps(PATIENT))
    with StubFhirServer() as stub:
        stub.put(PATIENT)
        [result] = run_scripts(stub.base_url, [path], None, None)
    assert results(result.report, 0) == ["pass", "pass"]
    assert result.passed
