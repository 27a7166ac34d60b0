"""Fixtures of the tests against the real server process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.server_process import ServerProcess, free_port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """The real server with two workers, on a port of its own, killed at the end."""
    process = ServerProcess(tmp_path / "data", free_port(), workers=2)
    process.start()
    yield process
    process.kill()
