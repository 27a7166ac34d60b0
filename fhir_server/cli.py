"""The `fhir-server` command: serve, and manage tenants.

    fhir-server serve [--data-dir DIR] [--host H] [--port P] [--workers N] [--demo]
    fhir-server tenant create NAME
    fhir-server tenant list

Every flag has a FHIR_* environment variable twin (see `fhir_server.settings`); a flag wins.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from fhir_server.instants import format_instant, now_us
from fhir_server.settings import Settings
from fhir_server.storage.sqlite import SqliteTenantStore
from tenancy import InvalidTenantName, parse_tenant_id

__all__ = ["main"]


def _settings(**flags: Any) -> Settings:
    given = {name: value for name, value in flags.items() if value is not None}
    return Settings(**given)


@click.group()
@click.version_option(package_name="fhir-server")
def cli() -> None:
    """A FHIR R4 server with audit, per-tenant encryption and field-level SMART built in."""


@cli.command()
@click.option("--data-dir", type=click.Path(path_type=Path), help="Embedded store [./data]")
@click.option("--host", help="Interface to listen on [127.0.0.1]")
@click.option("--port", type=int, help="TCP port [8080]")
@click.option("--workers", type=int, help="Worker processes [1]")
@click.option("--demo", is_flag=True, default=None, help="Create the tenant 'demo' if missing")
def serve(**flags: Any) -> None:
    """Serve the FHIR API."""
    import uvicorn

    settings = _settings(**flags)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.demo:
        store = SqliteTenantStore(settings.data_dir / "tenants.sqlite")
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


@cli.group()
def tenant() -> None:
    """Manage tenants."""


@tenant.command("create")
@click.argument("name")
@click.option("--data-dir", type=click.Path(path_type=Path))
def tenant_create(name: str, data_dir: Path | None) -> None:
    """Create the tenant NAME (its FHIR base is /fhir/NAME)."""
    settings = _settings(data_dir=data_dir)
    try:
        tenant_id = parse_tenant_id(name)
    except InvalidTenantName as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from exc
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = SqliteTenantStore(settings.data_dir / "tenants.sqlite")
    try:
        created = store.create(tenant_id, format_instant(now_us()))
    finally:
        store.close()
    click.echo(f"created tenant {tenant_id}" if created else f"tenant {tenant_id} already exists")


@tenant.command("list")
@click.option("--data-dir", type=click.Path(path_type=Path))
def tenant_list(data_dir: Path | None) -> None:
    """List the tenants."""
    settings = _settings(data_dir=data_dir)
    store = SqliteTenantStore(settings.data_dir / "tenants.sqlite")
    try:
        for registered in store.list():
            click.echo(f"{registered.id}\t{registered.created}")
    finally:
        store.close()


def main() -> None:
    cli(prog_name="fhir-server")
    sys.exit(0)
