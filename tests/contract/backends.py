"""The storage backends every contract test runs against."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fhir_server.storage.contracts import ResourceStore
from fhir_server.storage.sqlite import SqliteResourceStore

BACKENDS = ["sqlite"]


@contextmanager
def open_store(backend: str, tmp_path: Path) -> Iterator[ResourceStore]:
    if backend == "sqlite":
        store = SqliteResourceStore(tmp_path / "tenant.sqlite")
        try:
            yield store
        finally:
            store.close()
        return
    raise ValueError(backend)
