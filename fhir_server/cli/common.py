"""Settings from flags: every flag has a FHIR_* environment twin; a given flag wins."""

from __future__ import annotations

from typing import Any

from fhir_server.settings import Settings

__all__ = ["settings_from_flags"]


def settings_from_flags(**flags: Any) -> Settings:
    given = {name: value for name, value in flags.items() if value is not None}
    return Settings(**given)
