"""Settings from flags: every flag has a FHIR_* environment twin; a given flag wins."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

import click
from pydantic import ValidationError

from fhir_server.settings import Settings
from fhir_server.storage.backends import ClosableTenantStore, open_tenant_registry

__all__ = ["open_registry", "ready_data_dir", "settings_from_flags"]


def settings_from_flags(*, writes: bool = True, **flags: Any) -> Settings:
    """The settings; a value out of range or of the wrong type is a usage error naming
    its variable, not a traceback. The embedded store's data directory must be one this
    process can write to (made if missing) when the command `writes`; else it must exist
    (a mistyped one would read as a server with no tenants)."""
    given = {name: value for name, value in flags.items() if value is not None}
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"FHIR_{str(error['loc'][0]).upper() if error['loc'] else '?'}: {error['msg']}"
            for error in exc.errors()
        )
        raise click.UsageError(f"invalid setting: {problems}") from None
    if settings.storage == "sqlite":
        ready_data_dir(settings, create=writes)
    return settings


def ready_data_dir(settings: Settings, *, create: bool) -> None:
    """The data directory is a directory this process can use, or one line says why."""
    path = settings.data_dir
    if path.exists() and not path.is_dir():
        raise click.UsageError(f"FHIR_DATA_DIR: {path} is not a directory")
    if not path.exists():
        if not create:
            raise click.ClickException(f"no data directory at {path}")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.UsageError(f"FHIR_DATA_DIR: cannot create {path}: {exc.strerror}") from exc
    if create and not os.access(path, os.W_OK | os.X_OK):
        raise click.UsageError(f"FHIR_DATA_DIR: {path} is not writable")


def open_registry(settings: Settings) -> ClosableTenantStore:
    """The tenant registry of the configured backend; a setting missing is a usage error."""
    try:
        return open_tenant_registry(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    except sqlite3.DatabaseError as exc:  # a file there that is no SQLite database
        raise click.ClickException(f"the tenant registry cannot be opened: {exc}") from exc
