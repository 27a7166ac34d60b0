"""Tenant identifiers.

A tenant name appears in URLs (`/fhir/{tenant}`) and in file names of the embedded store, so
it is restricted to a small, safe alphabet: lower-case letters, digits and hyphens, starting
with a letter or digit, at most 63 characters (a DNS label).
"""

from __future__ import annotations

import re
from typing import NewType

__all__ = ["InvalidTenantName", "TenantId", "parse_tenant_id"]

TenantId = NewType("TenantId", str)

_TENANT_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class InvalidTenantName(ValueError):
    """The text cannot be a tenant name."""


def parse_tenant_id(text: str) -> TenantId:
    """Return `text` as a TenantId, or raise InvalidTenantName."""
    if not _TENANT_NAME.fullmatch(text):
        raise InvalidTenantName(
            "a tenant name is 1-63 lower-case letters, digits or hyphens, "
            "starting and ending with a letter or digit"
        )
    return TenantId(text)
