"""The public TestScripts (a folder named by FHIR_TESTSCRIPTS_DIR) parse and run.

The project's tests never read ../shared on their own; point the variable at a copy of
the public scripts (e.g. /work/shared/testscripts) to run this. Against the stub most of
them fail, for reasons outside the engine (fixtures missing from the folder, data expected
on the server, values a tester must type in, and the stub being no real server); what this
proves is that every one of them loads, runs to the end and yields a valid TestReport.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conformance import run_scripts
from conformance.loader import discover
from fhir_server.validation import validate_resource
from tests.unit.conformance.conformance_stub import StubFhirServer

_FOLDER = os.environ.get("FHIR_TESTSCRIPTS_DIR")

pytestmark = pytest.mark.skipif(
    not _FOLDER,
    reason="FHIR_TESTSCRIPTS_DIR is not set: it names the folder of public TestScripts to run",
)


def test_every_public_script_runs_to_a_valid_report(tmp_path: Path) -> None:
    folder = Path(str(_FOLDER))
    scripts = discover([folder])
    assert scripts, f"no TestScript found under {folder}"
    with StubFhirServer() as stub:
        results = run_scripts(stub.base_url, [folder], None, tmp_path, timeout=5)
    assert [r.path for r in results] == scripts
    for result in results:
        report = result.report
        assert report["status"] == "completed", result.summary
        assert report["result"] in ("pass", "fail")
        assert validate_resource(report) == [], result.summary  # a valid R4 TestReport
        assert result.report_path is not None and result.report_path.is_file()
