"""The server proves its own conformance: our TestScript suite against the real server.

`python -m fhir_server serve` runs on loopback (uvicorn, SQLite); the suite in
conformance/suites runs against it through the TestScript engine, and the `fhir-server
conformance` command is driven as a user would, in a subprocess.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from conformance import ScriptResult, run_scripts
from conformance.capability import Recorder, claims_from, coverage
from conformance.loader import discover, load_script
from fhir_server.validation import validate_resource
from tests.api.server_process import ServerProcess, free_port

SUITES = Path(__file__).resolve().parents[2] / "conformance" / "suites"


@dataclass
class SuiteRun:
    server: ServerProcess
    results: list[ScriptResult]
    recorder: Recorder


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SuiteRun]:
    folder = tmp_path_factory.mktemp("suite")
    server = ServerProcess(folder / "data", free_port())
    server.start()
    recorder = Recorder(server.base)
    try:
        results = run_scripts(
            server.base, [SUITES], None, folder / "reports", on_exchange=recorder.record
        )
        yield SuiteRun(server, results, recorder)
    finally:
        server.kill()


def test_every_suite_script_is_a_valid_r4_testscript() -> None:
    scripts = discover([SUITES])
    assert any(p.suffix == ".xml" for p in scripts) and len(scripts) >= 10
    for path in scripts:
        assert validate_resource(load_script(path).resource) == [], path


def test_the_suite_passes_against_the_real_server(suite_run: SuiteRun) -> None:
    failed = [r.summary for r in suite_run.results if not r.passed]
    assert not failed, "\n\n".join(failed)
    for result in suite_run.results:
        assert result.report_path is not None
        report = orjson.loads(result.report_path.read_bytes())
        assert report["result"] == "pass"
        assert validate_resource(report) == [], result.path


def test_the_suite_exercises_everything_the_server_claims(suite_run: SuiteRun) -> None:
    statement = httpx.get(f"{suite_run.server.base}/metadata", timeout=10).json()
    result = coverage(claims_from(statement), suite_run.recorder)
    assert result.gaps == [], result.text()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "fhir_server", "conformance", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _script(folder: Path, name: str, url: str, status: str) -> Path:
    """A TestScript that reads `url` and expects `status`."""
    path = folder / f"{name}.json"
    script = {
        "resourceType": "TestScript",
        "url": f"urn:test:{name}",
        "name": name,
        "status": "active",
        "variable": [{"name": "patientId", "hint": "[id of a Patient]"}],
        "test": [
            {
                "action": [
                    {
                        "operation": {
                            "type": {
                                "system": "http://terminology.hl7.org/CodeSystem/"
                                "testscript-operation-codes",
                                "code": "read",
                            },
                            "url": url,
                            "encodeRequestUrl": True,
                        }
                    },
                    {"assert": {"responseCode": status, "warningOnly": False}},
                ]
            }
        ],
    }
    path.write_bytes(orjson.dumps(script))
    return path


def test_the_command_reports_posts_and_exits_by_the_result(
    suite_run: SuiteRun, tmp_path: Path
) -> None:
    base = suite_run.server.base
    passing = _script(tmp_path, "passing", "metadata", "200")
    failing = _script(tmp_path, "failing", "Patient/cf-never-created", "200")
    reports = tmp_path / "reports"

    ok = _cli(
        "run",
        "--server",
        base,
        "--report-dir",
        str(reports),
        "--post-to",
        base,
        "--auth",
        "Bearer not-checked-yet",
        str(passing),
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "PASS" in ok.stdout and "posted: " in ok.stdout
    assert (reports / "passing.testreport.json").is_file()
    posted = httpx.get(f"{base}/TestReport", params={"result": "pass"}, timeout=10).json()
    assert posted["total"] >= 1

    bad = _cli("run", "--server", base, str(failing))
    assert bad.returncode == 1 and "FAIL" in bad.stdout

    needs_var = _script(tmp_path, "needs-var", "Patient/${patientId}", "404")
    without = _cli("run", "--server", base, str(needs_var))
    assert without.returncode == 1 and "needs a value from the tester" in without.stdout
    given = _cli("run", "--server", base, "--var", "patientId=cf-unknown", str(needs_var))
    assert given.returncode == 0, given.stdout

    broken_var = _cli("run", "--server", base, "--var", "no-equals-sign", str(passing))
    assert broken_var.returncode == 2 and "NAME=VALUE" in broken_var.stderr


def test_coverage_lists_what_a_partial_suite_leaves_out(
    suite_run: SuiteRun, tmp_path: Path
) -> None:
    partial = _cli("coverage", "--server", suite_run.server.base, str(SUITES / "rest"))
    assert partial.returncode == 1
    assert "GAP  search parameter type quantity" in partial.stdout
    assert "GAP  interaction read" not in partial.stdout
    full = _cli(
        "run",
        "--coverage",
        "--server",
        suite_run.server.base,
        "--report-dir",
        str(tmp_path),
        str(SUITES),
    )
    assert full.returncode == 0, full.stdout[-3000:]
    assert "0 gap(s)" in (tmp_path / "capability-coverage.txt").read_text()
