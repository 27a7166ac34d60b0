"""Whether a tenant's search index was built by this server's indexer (`INDEX_FORMAT`).

A tenant records the format its index is in (the `index-format` setting): an empty tenant
takes the current one on first use, and `fhir-server reindex` writes it when it has
rebuilt every resource's entries. A tenant holding resources but no such record was
indexed before formats were recorded. An outdated index still serves every request, but
searches may miss resources indexed the old way, so the server warns in its log and
`fhir-server tenant list` says which tenants to reindex.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fhir_server.search.indexer import INDEX_FORMAT
from fhir_server.search.plan import SearchPlan
from fhir_server.storage.contracts import ResourceStore

__all__ = ["SETTING", "IndexFormat", "index_format", "record_current_format", "warn_if_outdated"]

SETTING = "index-format"

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IndexFormat:
    stored: int  # 1 for an index from before formats were recorded
    current: int = INDEX_FORMAT

    @property
    def outdated(self) -> bool:
        return self.stored < self.current


async def index_format(store: ResourceStore) -> IndexFormat:
    """The format of the tenant's index; an empty tenant is recorded as current."""
    raw = await store.read_setting(SETTING)
    if raw is not None:
        return IndexFormat(int(raw))
    anything = await store.search(SearchPlan(None, count=1, total="none"))
    if anything.matches:
        # another request may have found the tenant empty, recorded the format and
        # written since this one read the setting
        raw = await store.read_setting(SETTING)
        return IndexFormat(1 if raw is None else int(raw))
    await record_current_format(store)
    return IndexFormat(INDEX_FORMAT)


async def record_current_format(store: ResourceStore) -> None:
    await store.write_setting(SETTING, str(INDEX_FORMAT).encode())


async def warn_if_outdated(tenant: str, store: ResourceStore) -> None:
    found = await index_format(store)
    if found.outdated:
        _log.warning(
            "tenant %s: its search index is in format %d, this server writes format %d; "
            "searches may miss resources until `fhir-server reindex --tenant %s` has run",
            tenant,
            found.stored,
            found.current,
            tenant,
        )
