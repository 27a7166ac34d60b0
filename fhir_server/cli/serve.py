"""`fhir-server serve`: run the API (uvicorn lives in `fhir_server.web.server`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from fhir_server.cli.common import open_registry, settings_from_flags
from fhir_server.instants import format_instant, now_us
from fhir_server.web.server import run
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
    settings = settings_from_flags(**flags)
    if settings.storage == "sqlite":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_registry(settings)  # a missing setting fails here, not in every worker
    try:
        if settings.demo:
            store.create(parse_tenant_id("demo"), format_instant(now_us()))
    finally:
        store.close()
    click.echo(f"FHIR base: http://{settings.host}:{settings.port}/fhir/{{tenant}}")
    run(settings)
