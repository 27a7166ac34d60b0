"""A bad setting stops the command with a usage error that names it, not a traceback."""

from __future__ import annotations

import importlib
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


def _invoke(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, args, env=env)
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), repr(result.exception)
    return result.exit_code, result.output


@pytest.mark.parametrize("level", ["trace", "loud"])
def test_log_levels_are_those_that_keep_phi_out(tmp_path: Path, level: str) -> None:
    """uvicorn's `trace` logs each request's URL, search values (PHI) included. (Every
    command reads the same settings; `serve` would start a server if the check let it.)"""
    env = {"FHIR_LOG_LEVEL": level}
    code, output = _invoke(["tenant", "list", "--data-dir", str(tmp_path)], env)
    assert code == 2 and "FHIR_LOG_LEVEL" in output


@pytest.mark.parametrize(
    "command", [["serve"], ["tenant", "create", "acme"], ["import", "--tenant", "acme", "x.json"]]
)
def test_a_data_dir_that_cannot_be_used_is_one_line(tmp_path: Path, command: list[str]) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("")
    code, output = _invoke([*command, "--data-dir", str(a_file)])
    assert code == 2 and f"{a_file} is not a directory" in output
    code, output = _invoke([*command, "--data-dir", str(a_file / "below")])
    assert code == 2 and "cannot create" in output


def test_tenant_list_of_a_missing_data_dir_creates_nothing(tmp_path: Path) -> None:
    typo = tmp_path / "typo-dir"
    code, output = _invoke(["tenant", "list", "--data-dir", str(typo)])
    assert code == 1 and f"no data directory at {typo}" in output
    assert not typo.exists()


def test_a_damaged_tenant_database_is_named(tmp_path: Path) -> None:
    data = str(tmp_path)
    for name in ("good", "broken"):
        _invoke(["tenant", "create", name, "--data-dir", data])
    (tmp_path / "tenants").mkdir(exist_ok=True)
    (tmp_path / "tenants" / "broken.sqlite").write_bytes(b"GARBAGE" * 1000)
    code, output = _invoke(["tenant", "list", "--data-dir", data])
    assert code == 0
    assert "broken\t" in output and "cannot be opened: file is not a database" in output
    assert "good\t" in output and "no data yet" in output
    code, output = _invoke(["reindex", "--tenant", "broken", "--data-dir", data])
    assert code == 1 and "tenant broken: file is not a database" in output


def test_a_damaged_registry_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "tenants.sqlite").write_bytes(b"GARBAGE" * 1000)
    code, output = _invoke(["tenant", "list", "--data-dir", str(tmp_path)])
    assert code == 1 and "the tenant registry cannot be opened" in output


def test_import_names_a_path_that_holds_nothing(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    _invoke(["tenant", "create", "acme", "--data-dir", data])
    good = tmp_path / "good.json"
    good.write_text('{"resourceType":"Bundle","type":"batch","entry":[]}')
    typo = tmp_path / "typo-file.json"
    code, output = _invoke(["import", "--tenant", "acme", "--data-dir", data, str(good), str(typo)])
    assert code == 1 and f"nothing at {typo}" in output


def test_a_mongodb_uri_of_another_scheme_is_a_usage_error(tmp_path: Path) -> None:
    env = {"FHIR_STORAGE": "mongodb", "FHIR_MONGODB_URI": "postgres://u:SECRET@h/"}
    code, output = _invoke(["tenant", "list"], env)
    assert code == 2 and "mongodb://" in output and "SECRET" not in output


@pytest.mark.parametrize(
    ("host", "base", "warned"),
    [
        ("127.0.0.1", "http://127.0.0.1:8080/", False),
        ("0.0.0.0", "http://0.0.0.0:8080/", True),
        ("::", "http://[::]:8080/", True),
        ("::1", "http://[::1]:8080/", False),
    ],
)
def test_serve_says_where_and_warns_beyond_this_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: str, base: str, warned: bool
) -> None:
    # the module, not the command of the same name its package exports; no server here
    serve_module = importlib.import_module("fhir_server.cli.serve")
    monkeypatch.setattr(serve_module, "run", lambda settings: None)
    code, output = _invoke(["serve", "--data-dir", str(tmp_path), "--host", host])
    assert code == 0 and f"FHIR base: {base}fhir/{{tenant}}" in output
    assert ("nothing authenticates requests yet" in output) is warned
