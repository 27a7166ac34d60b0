"""Allow-lists of third-party TestScripts: only the must-pass ones decide the exit status."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conformance import main_run
from conformance.allowlist import AllowListError, load_allowlist
from tests.unit.conformance.conformance_stub import StubFhirServer
from tests.unit.conformance.helpers import check, op, scripted

PASSING = scripted(tests=[[op("capabilities", encodeRequestUrl=True), check(response="okay")]])
FAILING = scripted(tests=[[op("read", url="Patient/nope"), check(response="okay")]])


def _allowlist(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scripts.allowlist"
    path.write_text(text, encoding="utf-8")
    return path


def test_lines_are_must_pass_or_excluded_with_a_reason(tmp_path: Path) -> None:
    allow = load_allowlist(
        _allowlist(
            tmp_path,
            "# comment\n\nmust-pass a/ok.json\n"
            "excluded a/bad.json: asserts 200 where http.html#update says 201\n",
        )
    )
    assert allow.must_pass == ["a/ok.json"]
    assert allow.excluded == {"a/bad.json": "asserts 200 where http.html#update says 201"}
    for wrong in ("excluded a/bad.json\n", "excluded a/bad.json:   \n", "maybe a.json\n"):
        with pytest.raises(AllowListError):
            load_allowlist(_allowlist(tmp_path, wrong))


def test_only_must_pass_scripts_gate_the_run(
    stub: StubFhirServer, write: Callable[..., Path], tmp_path: Path
) -> None:
    ok = write(PASSING, name="ok.json")
    bad = write(FAILING, name="bad.json")
    allow = load_allowlist(
        _allowlist(tmp_path, "must-pass ok.json\nexcluded bad.json: fails on purpose\n")
    )
    gated = allow.resolve([tmp_path])
    assert gated == [ok]
    assert allow.unlisted([tmp_path], [ok, bad]) == []
    folder = [str(tmp_path)]
    assert main_run(stub.base_url, None, folder, None, None, must_pass=gated) == 0
    assert main_run(stub.base_url, None, folder, None, None) == 1  # ungated: bad.json fails
    assert main_run(stub.base_url, None, folder, None, None, must_pass=[bad]) == 1
    missing = [tmp_path / "gone.json"]
    assert main_run(stub.base_url, None, [str(ok)], None, None, must_pass=missing) == 1
