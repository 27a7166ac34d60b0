"""`fhir-server serve`: run the API under uvicorn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from fhir_server.cli.common import settings_from_flags
from fhir_server.instants import format_instant, now_us
from fhir_server.storage.sqlite import open_tenant_store
from tenancy import parse_tenant_id

__all__ = ["serve"]


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), help="Embedded store [./data]")
@click.option("--host", help="Interface to listen on [127.0.0.1]")
@click.option("--port", type=int, help="TCP port [8080]")
@click.option("--workers", type=int, help="Worker processes [1]")
@click.option("--demo", is_flag=True, default=None, help="Create the tenant 'demo' if missing")
def serve(**flags: Any) -> None:
    """Serve the FHIR API."""
    import uvicorn

    settings = settings_from_flags(**flags)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.demo:
        store = open_tenant_store(settings.data_dir)
        store.create(parse_tenant_id("demo"), format_instant(now_us()))
        store.close()
    # Worker processes build their app from the environment: hand them the final settings.
    for name, value in settings.model_dump(mode="json", exclude={"demo"}).items():
        if value is not None:
            os.environ[f"FHIR_{name.upper()}"] = str(value)
    click.echo(f"FHIR base: http://{settings.host}:{settings.port}/fhir/{{tenant}}")
    uvicorn.run(
        "fhir_server.web.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=False,  # URLs carry search values, which can be PHI
    )
