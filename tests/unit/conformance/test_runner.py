"""The entry points the CLI calls: run_scripts, post_report and main_run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from conformance import ReportPostError, main_run, post_report, run_scripts, runner
from tests.unit.conformance.conformance_stub import StubFhirServer
from tests.unit.conformance.helpers import PATIENT, check, op, scripted

Write = Callable[..., Path]

PASSING = scripted(tests=[[op("capabilities"), check(response="okay")]])
FAILING = scripted(id="failing", tests=[[op("capabilities"), check(response="created")]])


def test_reports_are_written_one_file_per_script(stub: StubFhirServer, tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    (suite / "xml").mkdir(parents=True)
    (suite / "read.json").write_bytes(orjson.dumps(PASSING))
    (suite / "xml" / "read.json").write_bytes(orjson.dumps(FAILING))
    (suite / "fixture.json").write_bytes(orjson.dumps(PATIENT))
    out = tmp_path / "reports"
    results = run_scripts(stub.base_url, [suite], None, out)
    assert [r.path for r in results] == [suite / "read.json", suite / "xml" / "read.json"]
    assert [r.passed for r in results] == [True, False]
    assert [r.report_path for r in results] == [
        out / "read.testreport.json",
        out / "read.testreport-2.json",
    ]
    written = orjson.loads((out / "read.testreport-2.json").read_bytes())
    assert written == results[1].report
    assert written["result"] == "fail"


def test_a_file_that_is_not_a_testscript_gets_a_stopped_report(
    stub: StubFhirServer, tmp_path: Path
) -> None:
    patient = tmp_path / "patient.json"
    patient.write_bytes(orjson.dumps(PATIENT))
    [result] = run_scripts(stub.base_url, [patient], None, None)
    assert result.report["status"] == "stopped"
    assert result.report["result"] == "fail"
    assert "expected a TestScript, found Patient" in result.summary
    assert not result.passed


def test_an_engine_failure_on_one_script_does_not_stop_the_others(
    stub: StubFhirServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = tmp_path / "a-odd.json"
    odd.write_bytes(orjson.dumps(dict(PASSING, id="odd")))
    good = tmp_path / "b-good.json"
    good.write_bytes(orjson.dumps(PASSING))
    real = runner.run_script

    def failing_on_odd(script: Any, *args: Any) -> Any:
        if script.resource.get("id") == "odd":
            raise RuntimeError("a bug")
        return real(script, *args)

    monkeypatch.setattr(runner, "run_script", failing_on_odd)
    odd_result, good_result = run_scripts(stub.base_url, [odd, good], None, None)
    assert odd_result.report["status"] == "stopped"
    assert "the engine stopped on this script" in odd_result.summary
    assert good_result.passed


def test_post_report_stores_the_testreport(stub: StubFhirServer) -> None:
    [result] = run_scripts(stub.base_url, [_file(PASSING)], None, None)
    location = post_report(stub.base_url, result.report, "Bearer T0K")
    assert location.startswith(f"{stub.base_url}/TestReport/")
    kind, rid = location.split("/")[-4:-2]
    assert stub.current(kind, rid)["result"] == "pass"  # type: ignore[index]
    assert stub.requests[-1]["headers"]["authorization"] == "Bearer T0K"
    with pytest.raises(ReportPostError, match="404"):
        post_report(f"{stub.base_url}/nowhere/", {"resourceType": "Nope"}, None)


def test_main_run_prints_summaries_and_returns_the_exit_code(
    stub: StubFhirServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    passing, failing = _file(PASSING, "pass.json"), _file(FAILING, "fail.json")
    assert main_run(stub.base_url, None, [str(passing)], None, None) == 0
    out = capsys.readouterr().out
    assert out.startswith("PASS  EngineTest")
    assert "1 TestScripts: 1 passed, 0 failed" in out

    reports = tmp_path / "out"
    code = main_run(
        stub.base_url, "Bearer x", [str(passing), str(failing)], str(reports), stub.base_url
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL  EngineTest" in out and "expected equals 'created', got 'okay'" in out
    assert out.count("posted: ") == 2
    assert len(list(reports.glob("*.json"))) == 2
    assert sum(1 for r in stub.requests if r["path"] == "/TestReport") == 2

    (tmp_path / "empty").mkdir()
    assert main_run(stub.base_url, None, [str(tmp_path / "empty")], None, None) == 2
    assert "no TestScript found" in capsys.readouterr().out


def test_main_run_fails_when_posting_fails(
    stub: StubFhirServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main_run(stub.base_url, None, [str(_file(PASSING))], None, f"{stub.base_url}/nowhere")
    assert code == 1
    assert "post failed: POST" in capsys.readouterr().out


def _file(resource: dict[str, object], name: str = "script.json") -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp()) / name
    path.write_bytes(orjson.dumps(resource))
    return path
