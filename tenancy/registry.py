"""The tenant registry contract: which tenants exist.

Each backend implements `TenantStore`; the shared contract suite in `tests/contract`
checks every implementation the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tenancy.ids import TenantId

__all__ = ["Tenant", "TenantStore"]


@dataclass(frozen=True, slots=True)
class Tenant:
    """A registered tenant."""

    id: TenantId
    created: str  # FHIR instant, UTC


class TenantStore(Protocol):
    """Persistent list of tenants."""

    def create(self, tenant: TenantId, created: str) -> bool:
        """Register `tenant`; False if it already existed."""
        ...

    def get(self, tenant: TenantId) -> Tenant | None:
        """The tenant, or None if it is not registered."""
        ...

    def list(self) -> list[Tenant]:
        """All tenants, by name."""
        ...
