"""Server start and stop through the ASGI lifespan protocol, as uvicorn drives it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from fhir_server.settings import Settings
from fhir_server.web.app import FhirApp, create_app


async def _lifespan(app: FhirApp, *incoming: str) -> list[dict[str, Any]]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for kind in incoming:
        inbox.put_nowait({"type": f"lifespan.{kind}"})
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send)
    return sent


async def test_startup_and_shutdown_complete(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data"))
    sent = await _lifespan(app, "startup", "shutdown")
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_a_store_that_cannot_start_fails_startup_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # e.g. an unreachable MongoDB: a driver traceback of ~20 frames buried the cause
    app = create_app(Settings(data_dir=tmp_path / "data"))

    async def unreachable() -> None:
        raise ConnectionError("db.example.internal:27017: connection refused")

    monkeypatch.setattr(app.stores, "start", unreachable)
    (failed,) = await _lifespan(app, "startup")
    app.close()
    assert failed["type"] == "lifespan.startup.failed"
    assert "could not start (ConnectionError)" in failed["message"]
    assert "Traceback" not in failed["message"]
    assert "db.example.internal" not in failed["message"]  # hosts stay out of the log
