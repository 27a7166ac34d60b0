"""The SQLite tenant registry: `tenants.sqlite` in the data directory."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from fhir_server.storage.sqlite.connection import open_connection
from tenancy import Tenant, TenantId

__all__ = ["SqliteTenantStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (name TEXT PRIMARY KEY, created TEXT NOT NULL);
"""


class SqliteTenantStore:
    """Implements `tenancy.TenantStore`."""

    def __init__(self, path: Path) -> None:
        self._conn = open_connection(path, schema=_SCHEMA)
        self._lock = threading.Lock()

    def create(self, tenant: TenantId, created: str) -> bool:
        with self._lock:
            try:
                self._conn.execute("INSERT INTO tenants VALUES (?, ?)", (tenant, created))
            except sqlite3.IntegrityError:
                return False
            return True

    def get(self, tenant: TenantId) -> Tenant | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT name, created FROM tenants WHERE name = ?", (tenant,)
            ).fetchone()
        return Tenant(TenantId(row[0]), row[1]) if row else None

    def list(self) -> list[Tenant]:
        with self._lock:
            rows = self._conn.execute("SELECT name, created FROM tenants ORDER BY name").fetchall()
        return [Tenant(TenantId(name), created) for name, created in rows]

    def close(self) -> None:
        self._conn.close()
