"""The SearchParameter registry: which parameters each resource type has, and how.

Loaded from ``data/search_parameters.json.gz``, generated from the R4 SearchParameter
bundle by ``scripts/generate_search_registry.py`` (https://hl7.org/fhir/R4/searchparameter.html,
https://hl7.org/fhir/R4/searchparameter-registry.html). Parameters whose base is
``Resource`` (``_id``, ``_lastUpdated``, ``_tag``, ``_profile``, ``_security``,
``_source``...) apply to every type, those on ``DomainResource`` (``_text``) to every
DomainResource (search.html#all). A tenant's own SearchParameter resources are layered on
top with `SearchRegistry.with_custom`, which returns a new registry: registries are
immutable, so one can be shared by every request without locks.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal, cast

from fhir_server.errors import UnprocessableEntity

__all__ = [
    "PARAM_TYPES",
    "ComponentDef",
    "InvalidSearchParameter",
    "ParamType",
    "SearchParameterDef",
    "SearchRegistry",
    "default_registry",
]

ParamType = Literal[
    "number", "date", "string", "token", "reference", "composite", "quantity", "uri", "special"
]
PARAM_TYPES: frozenset[str] = frozenset(ParamType.__args__)  # type: ignore[attr-defined]
_ABSTRACT = ("Resource", "DomainResource")
DATA_FILE = "search_parameters.json.gz"


class InvalidSearchParameter(UnprocessableEntity):
    """A SearchParameter resource that cannot be used for search (422, processing)."""


@dataclass(frozen=True, slots=True)
class ComponentDef:
    """One part of a composite parameter: another parameter's url and the expression that
    selects its value relative to the composite's element (search.html#composite)."""

    definition: str
    expression: str


@dataclass(frozen=True, slots=True)
class SearchParameterDef:
    """A search parameter, reduced to what search needs (searchparameter.html)."""

    code: str
    url: str
    type: ParamType
    base: tuple[str, ...]
    expression: str | None = None
    target: tuple[str, ...] = ()
    modifiers: tuple[str, ...] = ()
    comparators: tuple[str, ...] = ()
    chain: tuple[str, ...] = ()
    components: tuple[ComponentDef, ...] = ()
    multiple_or: bool | None = None
    multiple_and: bool | None = None
    xpath_usage: str = "normal"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SearchParameterDef:
        """From a SearchParameter resource, or from its compact form in the data file
        (which keeps the FHIR element names)."""
        code, url, kind = data.get("code"), data.get("url"), data.get("type")
        base = data.get("base")
        if not isinstance(code, str) or not code:
            raise InvalidSearchParameter("SearchParameter.code is required")
        if not isinstance(url, str) or not url:
            raise InvalidSearchParameter(f"SearchParameter '{code}' has no url")
        if kind not in PARAM_TYPES:
            raise InvalidSearchParameter(f"SearchParameter '{code}' has an unknown type {kind!r}")
        if not isinstance(base, list) or not base or not all(isinstance(b, str) for b in base):
            raise InvalidSearchParameter(f"SearchParameter '{code}' has no base")
        expression = data.get("expression")
        if expression is not None and not isinstance(expression, str):
            raise InvalidSearchParameter(f"SearchParameter '{code}' has a bad expression")
        components = tuple(
            ComponentDef(str(c["definition"]), str(c["expression"]))
            for c in data.get("component") or ()
        )
        if kind == "composite" and not components:
            raise InvalidSearchParameter(f"composite SearchParameter '{code}' has no component")
        return cls(
            code=code,
            url=url,
            type=cast(ParamType, kind),
            base=tuple(base),
            expression=expression,
            target=tuple(data.get("target") or ()),
            modifiers=tuple(data.get("modifier") or ()),
            comparators=tuple(data.get("comparator") or ()),
            chain=tuple(data.get("chain") or ()),
            components=components,
            multiple_or=data.get("multipleOr"),
            multiple_and=data.get("multipleAnd"),
            xpath_usage=str(data.get("xpathUsage") or "normal"),
        )


class SearchRegistry:
    """Search parameters by resource type and code, and by canonical url."""

    __slots__ = ("_by_type", "_by_url", "_merged", "_params", "_resource_types")

    def __init__(
        self, params: Iterable[SearchParameterDef], resource_types: Mapping[str, str]
    ) -> None:
        self._params = tuple(params)
        self._resource_types = dict(resource_types)
        self._by_type: dict[str, dict[str, SearchParameterDef]] = {}
        self._by_url: dict[str, SearchParameterDef] = {}
        for param in self._params:
            self._by_url[param.url] = param
            for base in param.base:
                self._by_type.setdefault(base, {})[param.code] = param
        self._merged: dict[str, dict[str, SearchParameterDef]] = {}

    @property
    def resource_types(self) -> frozenset[str]:
        """The concrete resource types this registry knows."""
        return frozenset(self._resource_types)

    def __iter__(self) -> Iterator[SearchParameterDef]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def _for(self, resource_type: str) -> dict[str, SearchParameterDef]:
        merged = self._merged.get(resource_type)
        if merged is None:
            merged = dict(self._by_type.get("Resource", {}))
            # Bundle, Binary and Parameters derive from Resource directly (no _text).
            if self._resource_types.get(resource_type, "DomainResource") == "DomainResource":
                merged.update(self._by_type.get("DomainResource", {}))
            merged.update(self._by_type.get(resource_type, {}))
            self._merged[resource_type] = merged  # benign race: same value either way
        return merged

    def get(self, resource_type: str, code: str) -> SearchParameterDef | None:
        """The parameter ``code`` of ``resource_type`` (its own, else a common one)."""
        return self._for(resource_type).get(code)

    def for_type(self, resource_type: str) -> list[SearchParameterDef]:
        """Every parameter that applies to ``resource_type``, common ones included."""
        return list(self._for(resource_type).values())

    def by_url(self, url: str) -> SearchParameterDef | None:
        """The parameter with canonical ``url`` (composite components name theirs so)."""
        return self._by_url.get(url)

    def with_custom(
        self, params: Iterable[SearchParameterDef | Mapping[str, Any]]
    ) -> SearchRegistry:
        """A new registry with ``params`` (SearchParameter resources or definitions) added.

        A custom parameter replaces a built-in one with the same url, and shadows one with
        the same code on the same base.
        """
        custom = [
            p if isinstance(p, SearchParameterDef) else SearchParameterDef.from_json(p)
            for p in params
        ]
        for param in custom:
            unknown = [
                b for b in param.base if b not in self._resource_types and b not in _ABSTRACT
            ]
            if unknown:
                raise InvalidSearchParameter(
                    f"SearchParameter '{param.code}' has unknown base {unknown}"
                )
        urls = {p.url for p in custom}
        kept = [p for p in self._params if p.url not in urls]
        return SearchRegistry([*kept, *custom], self._resource_types)


def load_registry(data: Mapping[str, Any]) -> SearchRegistry:
    """A registry from the parsed data file."""
    params = [SearchParameterDef.from_json(p) for p in data["parameters"]]
    return SearchRegistry(params, data["resourceTypes"])


@cache
def default_registry() -> SearchRegistry:
    """The R4 registry from the committed data file, loaded once per process."""
    raw = resources.files("fhir_server.search.data").joinpath(DATA_FILE).read_bytes()
    return load_registry(json.loads(gzip.decompress(raw)))
