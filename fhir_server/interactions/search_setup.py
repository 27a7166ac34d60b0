"""Which search parameters a tenant has: R4's, plus its own SearchParameter resources as of
its last reindex (http://hl7.org/fhir/R4/searchparameter.html).

A tenant's custom parameters take effect when `fhir-server reindex` has indexed every
resource with them and stored their list as the tenant's `search-parameters` setting;
until then searches and writes use the set in force before.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import Any

import orjson

from fhir_server.search.indexer import Indexer
from fhir_server.search.registry import SearchParameterDef, SearchRegistry, default_registry
from fhir_server.storage.contracts import ResourceStore

__all__ = [
    "MAX_SETUPS",
    "SETTING",
    "SearchSetup",
    "default_setup",
    "forget_setting",
    "setup_from_parameters",
    "tenant_setup",
]

SETTING = "search-parameters"


@dataclass(frozen=True, slots=True)
class SearchSetup:
    registry: SearchRegistry
    indexer: Indexer


_DEFAULT: SearchSetup | None = None
# Setups by the exact bytes of the stored setting: rebuilt only when it changes. Bounded:
# a process serves few distinct sets of custom parameters.
_BY_SETTING: dict[bytes, SearchSetup] = {}
MAX_SETUPS = 64


def forget_setting(store: ResourceStore) -> None:
    """Drop this process's cached copy of the store's setting (after writing it)."""
    _READ.pop(store, None)


def default_setup() -> SearchSetup:
    global _DEFAULT
    if _DEFAULT is None:
        registry = default_registry()
        _DEFAULT = SearchSetup(registry, Indexer(registry))
    return _DEFAULT


def setup_from_parameters(resources: list[dict[str, Any]]) -> SearchSetup:
    """The setup with these SearchParameter resources added (InvalidSearchParameter, a
    422, names the first unusable one)."""
    if not resources:
        return default_setup()
    custom = [SearchParameterDef.from_json(r) for r in resources]
    registry = default_registry().with_custom(custom)
    return SearchSetup(registry, Indexer(registry))


# How long a process trusts the setting it last read: a reindex run by another process
# takes effect within this delay, and a busy server reads the setting once a second per
# tenant instead of on every write.
SETTING_TTL_SECONDS = 1.0
# Per store object (weakly held: a closed store's entry goes with it), never by id(),
# which Python reuses once an object is gone.
_READ: weakref.WeakKeyDictionary[ResourceStore, tuple[float, bytes | None]] = (
    weakref.WeakKeyDictionary()
)


async def tenant_setup(store: ResourceStore) -> SearchSetup:
    now = time.monotonic()
    cached = _READ.get(store)
    if cached is not None and now - cached[0] < SETTING_TTL_SECONDS:
        raw = cached[1]
    else:
        raw = await store.read_setting(SETTING)
        _READ[store] = (now, raw)
    if raw is None:
        return default_setup()
    found = _BY_SETTING.get(raw)
    if found is None:
        found = setup_from_parameters(orjson.loads(raw))
        if len(_BY_SETTING) >= MAX_SETUPS:
            _BY_SETTING.clear()
        _BY_SETTING[raw] = found
    return found
