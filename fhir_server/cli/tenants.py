"""`fhir-server tenant create|list`."""

from __future__ import annotations

import asyncio
import shlex
import sqlite3
from pathlib import Path

import click

from fhir_server.cli.common import open_registry, settings_from_flags
from fhir_server.instants import format_instant, now_us
from fhir_server.interactions.index_format import IndexFormat, index_format
from fhir_server.settings import Settings
from fhir_server.storage.backends import open_stores
from fhir_server.storage.sqlite.provider import tenant_database
from tenancy import InvalidTenantName, TenantId, parse_tenant_id

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
    """List the tenants: name, creation time, and whether the search index needs a
    `fhir-server reindex` after an upgrade."""
    settings = settings_from_flags(data_dir=data_dir, writes=False)  # listing creates nothing
    open_registry(settings).close()  # a usage error for a missing setting, as elsewhere
    where = f" --data-dir {shlex.quote(str(data_dir))}" if data_dir is not None else ""
    for name, created, found in asyncio.run(_tenants_and_formats(settings)):
        if isinstance(found, sqlite3.DatabaseError):
            state = f"cannot be opened: {found}"
        elif found is None:
            state = "no data yet"
        elif found.outdated:
            state = (
                f"index format {found.stored}, now {found.current}: "
                f"run fhir-server reindex --tenant {name}{where}"
            )
        else:
            state = "index current"
        click.echo(f"{name}\t{created}\t{state}")


async def _tenants_and_formats(
    settings: Settings,
) -> list[tuple[TenantId, str, IndexFormat | sqlite3.DatabaseError | None]]:
    """Each tenant with its index format; None for an embedded tenant with no database
    yet, which listing does not create; the error for one whose file is damaged."""
    stores = open_stores(settings)
    try:
        await stores.start()
        found: list[tuple[TenantId, str, IndexFormat | sqlite3.DatabaseError | None]] = []
        for t in stores.tenants.list():
            unused = settings.storage == "sqlite" and not (
                tenant_database(settings.data_dir, t.id).exists()
            )
            state: IndexFormat | sqlite3.DatabaseError | None = None
            try:
                if not unused:
                    state = await index_format(stores.for_tenant(t.id))
            except sqlite3.DatabaseError as exc:  # a damaged file: the others still listed
                state = exc
            found.append((t.id, t.created, state))
        return found
    finally:
        await stores.aclose()
