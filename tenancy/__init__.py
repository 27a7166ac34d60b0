"""Tenants: their names, and the registry that says which exist."""

from tenancy.ids import InvalidTenantName, TenantId, parse_tenant_id
from tenancy.registry import Tenant, TenantStore

__all__ = ["InvalidTenantName", "Tenant", "TenantId", "TenantStore", "parse_tenant_id"]
