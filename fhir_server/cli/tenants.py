"""`fhir-server tenant create|list`."""

from __future__ import annotations

from pathlib import Path

import click

from fhir_server.cli.common import open_registry, settings_from_flags
from fhir_server.instants import format_instant, now_us
from tenancy import InvalidTenantName, parse_tenant_id

__all__ = ["tenant"]


@click.group()
def tenant() -> None:
    """Manage tenants."""


@tenant.command("create")
@click.argument("name")
@click.option("--data-dir", type=click.Path(path_type=Path))
def tenant_create(name: str, data_dir: Path | None) -> None:
    """Create the tenant NAME (its FHIR base is /fhir/NAME)."""
    settings = settings_from_flags(data_dir=data_dir)
    try:
        tenant_id = parse_tenant_id(name)
    except InvalidTenantName as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from exc
    store = open_registry(settings)
    try:
        created = store.create(tenant_id, format_instant(now_us()))
    finally:
        store.close()
    click.echo(f"created tenant {tenant_id}" if created else f"tenant {tenant_id} already exists")


@tenant.command("list")
@click.option("--data-dir", type=click.Path(path_type=Path))
def tenant_list(data_dir: Path | None) -> None:
    """List the tenants."""
    settings = settings_from_flags(data_dir=data_dir)
    store = open_registry(settings)
    try:
        for registered in store.list():
            click.echo(f"{registered.id}\t{registered.created}")
    finally:
        store.close()
