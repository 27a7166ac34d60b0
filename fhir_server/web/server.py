"""Running the app under uvicorn, with every worker process built from the same settings."""

from __future__ import annotations

import os

import uvicorn

from fhir_server.settings import Settings

__all__ = ["run"]


def run(settings: Settings) -> None:
    """Serve until interrupted. Workers are separate processes that build their app from
    FHIR_* variables (`app_from_environment`), so the final settings are handed over there;
    writing them is the one place besides `Settings` that touches the environment."""
    hidden = {"demo", "mongodb_uri"}
    for name, value in settings.model_dump(mode="json", exclude=hidden).items():
        if value is not None:
            os.environ[f"FHIR_{name.upper()}"] = str(value)
    if settings.mongodb_uri is not None:  # a secret: dumped masked, so passed on by hand
        os.environ["FHIR_MONGODB_URI"] = settings.mongodb_uri.get_secret_value()
    uvicorn.run(
        "fhir_server.web.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=False,  # URLs carry search values, which can be PHI
    )
