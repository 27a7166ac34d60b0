"""Running the app under uvicorn, with every worker process built from the same settings."""

from __future__ import annotations

import os
from typing import Any

import uvicorn

from fhir_server.settings import Settings
from fhir_server.web.workers import can_balance, serve_balanced

__all__ = ["run"]


def run(settings: Settings) -> None:
    """Serve until interrupted. Workers are separate processes that build their app from
    FHIR_* variables (`app_from_environment`), so the final settings are handed over there;
    writing them is the one place besides `Settings` that touches the environment. On
    Linux each worker listens on a socket of its own (`workers.py`)."""
    hidden = {"demo", "mongodb_uri"}
    for name, value in settings.model_dump(mode="json", exclude=hidden).items():
        if value is not None:
            os.environ[f"FHIR_{name.upper()}"] = str(value)
    if settings.mongodb_uri is not None:  # a secret: dumped masked, so passed on by hand
        os.environ["FHIR_MONGODB_URI"] = settings.mongodb_uri.get_secret_value()
    config: dict[str, Any] = {
        "app": "fhir_server.web.app:app_from_environment",
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,  # URLs carry search values, which can be PHI
        "date_header": False,  # the app writes its own, from the clock that stamps versions
    }
    if settings.workers > 1 and can_balance():
        serve_balanced(config, settings.host, settings.port, settings.workers)
    else:
        uvicorn.run(**config, workers=settings.workers)
