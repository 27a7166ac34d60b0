"""`fhir-server reindex`: rebuild a tenant's search index, with a progress bar."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import click

from fhir_server.cli.common import settings_from_flags
from fhir_server.errors import FhirError
from fhir_server.interactions.reindex import ReindexReport, reindex_tenant
from fhir_server.storage.backends import open_stores
from tenancy import InvalidTenantName, parse_tenant_id

__all__ = ["reindex"]


@click.command()
@click.option("--tenant", "tenant_name", required=True, help="Tenant to reindex")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Embedded store [./data]")
@click.option("--storage", type=click.Choice(["sqlite", "mongodb"]), help="Backend [sqlite]")
@click.option("--mongodb-uri", help="MongoDB URI (with --storage mongodb)")
def reindex(
    tenant_name: str, data_dir: Path | None, storage: str | None, mongodb_uri: str | None
) -> None:
    """Rebuild TENANT's search index with R4's and its own active SearchParameters."""
    settings = settings_from_flags(data_dir=data_dir, storage=storage, mongodb_uri=mongodb_uri)
    try:
        tenant = parse_tenant_id(tenant_name)
    except InvalidTenantName as exc:
        raise click.BadParameter(str(exc), param_hint="--tenant") from exc
    stores = open_stores(settings)
    if stores.tenants.get(tenant) is None:
        stores.close()
        raise click.ClickException(f"no tenant {tenant}")
    with click.progressbar(length=1, label=f"reindexing {tenant}") as bar:

        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        async def run() -> ReindexReport:
            await stores.start()
            try:
                base = settings.base_url
                tenant_base = f"{base.rstrip('/')}/fhir/{tenant}" if base else None
                return await reindex_tenant(stores.for_tenant(tenant), progress, tenant_base)
            finally:
                await stores.aclose()

        try:
            report = asyncio.run(run())
        except FhirError as exc:
            raise click.ClickException(exc.diagnostics) from exc
        except sqlite3.DatabaseError as exc:  # a damaged database file
            raise click.ClickException(f"tenant {tenant}: {exc}") from exc
    custom = ", ".join(report.custom_parameters) or "none"
    click.echo(
        f"reindexed {report.resources} resources ({report.skipped} changed meanwhile); "
        f"custom search parameters: {custom}"
    )
