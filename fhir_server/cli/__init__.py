"""The `fhir-server` command.

    fhir-server serve [--data-dir DIR] [--host H] [--port P] [--workers N] [--demo]
    fhir-server tenant create NAME | tenant list
    fhir-server import --tenant NAME PATH...   (Bundle .json and .ndjson files, folders, globs)
    fhir-server mongo init [--mongodb-uri URI] [--mongodb-database NAME] [--no-roles]
    fhir-server conformance run --server URL [--auth 'Bearer TOKEN'] SCRIPTS... | coverage

Every flag has a FHIR_* environment variable twin (see `fhir_server.settings`); a flag wins.
Each subcommand lives in its own module and is registered here.
"""

from __future__ import annotations

import click

from fhir_server.cli.conformance import conformance
from fhir_server.cli.import_cmd import import_command
from fhir_server.cli.mongo import mongo
from fhir_server.cli.reindex import reindex
from fhir_server.cli.serve import serve
from fhir_server.cli.tenants import tenant

__all__ = ["cli", "main"]


@click.group()
@click.version_option(package_name="fhir-server")
def cli() -> None:
    """A FHIR R4 server: REST API and search on an embedded SQLite store or MongoDB.

    An audit ledger, per-tenant encryption and field-level SMART are planned."""


cli.add_command(reindex)
cli.add_command(serve)
cli.add_command(tenant)
cli.add_command(conformance)
cli.add_command(mongo)
cli.add_command(import_command)


def main() -> None:
    cli(prog_name="fhir-server")
