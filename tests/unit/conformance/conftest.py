"""Fixtures for the TestScript engine tests: a live stub server and script writers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from conformance.runner import ScriptResult, run_scripts
from tests.unit.conformance.conformance_stub import StubFhirServer


@pytest.fixture
def stub() -> Iterator[StubFhirServer]:
    with StubFhirServer() as server:
        yield server


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write a TestScript (and fixture files, by relative path) into a temp folder."""

    def _write(
        resource: dict[str, Any], files: dict[str, Any] | None = None, name: str = "script.json"
    ) -> Path:
        for relative, content in (files or {}).items():
            target = tmp_path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content if isinstance(content, bytes) else orjson.dumps(content))
        path = tmp_path / name
        path.write_bytes(orjson.dumps(resource))
        return path

    return _write


@pytest.fixture
def run(stub: StubFhirServer) -> Callable[..., ScriptResult]:
    """Run one script file against the stub; the single result."""

    def _run(path: Path, auth: str | None = None, **kwargs: Any) -> ScriptResult:
        results = run_scripts(stub.base_url, [path], auth, None, **kwargs)
        assert len(results) == 1
        return results[0]

    return _run
