"""A bad setting stops the command with a usage error that names it, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fhir_server.cli import cli


@pytest.mark.parametrize(
    ("variable", "value"),
    [("FHIR_PORT", "abc"), ("FHIR_MAX_BODY_BYTES", "100"), ("FHIR_MAX_JSON_DEPTH", "1")],
)
@pytest.mark.parametrize("command", [["serve"], ["tenant", "list"]])
def test_a_bad_setting_is_a_usage_error_naming_it(
    tmp_path: Path, command: list[str], variable: str, value: str
) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, [*command, "--data-dir", str(tmp_path)], env={variable: value})
    assert result.exit_code == 2, result.output
    assert variable in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "tenants.sqlite").exists()  # nothing was started or written
