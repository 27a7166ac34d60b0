"""`fhir-server serve`: run the API (uvicorn lives in `fhir_server.web.server`)."""

from __future__ import annotations

import ipaddress
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
    store = open_registry(settings)  # a missing setting fails here, not in every worker
    try:
        if settings.demo:
            store.create(parse_tenant_id("demo"), format_instant(now_us()))
    except Exception as exc:  # the store unreachable; the driver's message may name hosts
        raise _CouldNotStart(
            f"the {settings.storage} store could not be used ({type(exc).__name__}): "
            "check FHIR_STORAGE and its settings, and that the database is reachable"
        ) from exc
    finally:
        store.close()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host  # IPv6
    click.echo(f"FHIR base: http://{host}:{settings.port}/fhir/{{tenant}}")
    if not _loopback(settings.host):
        click.echo(
            f"warning: serving on {settings.host}, beyond this machine, and nothing "
            "authenticates requests yet: keep the port behind a firewall or an "
            "authenticating proxy",
            err=True,
        )
    run(settings)


class _CouldNotStart(click.ClickException):
    exit_code = 3  # as a server whose store fails at start-up stops (web.app)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: where it points is not known here
        return False
