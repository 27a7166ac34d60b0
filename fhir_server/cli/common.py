"""Settings from flags: every flag has a FHIR_* environment twin; a given flag wins."""

from __future__ import annotations

from typing import Any

import click

from fhir_server.settings import Settings
from fhir_server.storage.backends import ClosableTenantStore, open_tenant_registry

__all__ = ["open_registry", "settings_from_flags"]


def settings_from_flags(**flags: Any) -> Settings:
    given = {name: value for name, value in flags.items() if value is not None}
    return Settings(**given)


def open_registry(settings: Settings) -> ClosableTenantStore:
    """The tenant registry of the configured backend; a setting missing is a usage error."""
    try:
        return open_tenant_registry(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
