"""Settings from flags: every flag has a FHIR_* environment twin; a given flag wins."""

from __future__ import annotations

from typing import Any

import click
from pydantic import ValidationError

from fhir_server.settings import Settings
from fhir_server.storage.backends import ClosableTenantStore, open_tenant_registry

__all__ = ["open_registry", "settings_from_flags"]


def settings_from_flags(**flags: Any) -> Settings:
    """The settings; a value out of range or of the wrong type is a usage error naming
    its variable, not a traceback."""
    given = {name: value for name, value in flags.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"FHIR_{str(error['loc'][0]).upper() if error['loc'] else '?'}: {error['msg']}"
            for error in exc.errors()
        )
        raise click.UsageError(f"invalid setting: {problems}") from None


def open_registry(settings: Settings) -> ClosableTenantStore:
    """The tenant registry of the configured backend; a setting missing is a usage error."""
    try:
        return open_tenant_registry(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
