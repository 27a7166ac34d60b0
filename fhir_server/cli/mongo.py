"""`fhir-server mongo init`: prepare a MongoDB database (docs/mongodb.md)."""

from __future__ import annotations

import asyncio

import click

from fhir_server.cli.common import settings_from_flags
from fhir_server.storage import backends

__all__ = ["mongo"]


@click.group()
def mongo() -> None:
    """Manage the MongoDB backend."""


@mongo.command("init")
@click.option("--mongodb-uri", help="Connection string of an account allowed to create roles")
@click.option("--mongodb-database", help="Database name [fhir]")
@click.option("--no-roles", is_flag=True, help="Create the indexes only")
def mongo_init(mongodb_uri: str | None, mongodb_database: str | None, no_roles: bool) -> None:
    """Create the indexes and the database roles (both idempotent)."""
    from fhir_server.storage.mongo.setup import initialize_uri

    settings = settings_from_flags(
        storage="mongodb", mongodb_uri=mongodb_uri, mongodb_database=mongodb_database
    )
    try:
        uri = backends.mongodb_uri(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        report = asyncio.run(initialize_uri(uri, settings.mongodb_database, roles=not no_roles))
    except Exception as exc:  # driver errors: unreachable, not authorized, ...
        # The driver's message names hosts and the refused command, never the password.
        raise click.ClickException(f"{type(exc).__name__}: {str(exc)[:300]}") from exc
    click.echo(f"database {report.database}: {report.indexes} indexes in place")
    for role in report.roles:
        click.echo(f"role {role} in place")
    if report.transactions:
        click.echo("replica set or sharded cluster: transaction Bundles are atomic")
    else:
        click.echo("standalone server: transaction Bundles will be refused (use a replica set)")
