"""`fhir-server serve`: run the API under uvicorn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from fhir_server.cli.common import open_registry, settings_from_flags
from fhir_server.instants import format_instant, now_us
from tenancy import parse_tenant_id

__all__ = ["serve"]


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), help="Embedded store [./data]")
@click.option("--host", help="Interface to listen on [127.0.0.1]")
@click.option("--port", type=int, help="TCP port [8080]")
@click.option("--workers", type=int, help="Worker processes [1]")
@click.option("--demo", is_flag=True, default=None, help="Create the tenant 'demo' if missing")
@click.option("--storage", type=click.Choice(["sqlite", "mongodb"]), help="Backend [sqlite]")
@click.option("--mongodb-uri", help="MongoDB connection string (with --storage mongodb)")
def serve(**flags: Any) -> None:
    """Serve the FHIR API."""
    import uvicorn

    settings = settings_from_flags(**flags)
    if settings.storage == "sqlite":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_registry(settings)  # a missing setting fails here, not in every worker
    try:
        if settings.demo:
            store.create(parse_tenant_id("demo"), format_instant(now_us()))
    finally:
        store.close()
    # Worker processes build their app from the environment: hand them the final settings.
    hidden = {"demo", "mongodb_uri"}
    for name, value in settings.model_dump(mode="json", exclude=hidden).items():
        if value is not None:
            os.environ[f"FHIR_{name.upper()}"] = str(value)
    if settings.mongodb_uri is not None:  # a secret: dumped masked, so passed on by hand
        os.environ["FHIR_MONGODB_URI"] = settings.mongodb_uri.get_secret_value()
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
