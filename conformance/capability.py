"""Does a TestScript suite exercise everything a CapabilityStatement claims?

The claims are read from the server's CapabilityStatement
(http://hl7.org/fhir/R4/capabilitystatement.html); what the suite exercises is observed,
not guessed: every request the engine sends while running the scripts is classified with
the server's own URL grammar (`fhir_server.routing`). A claim counts as exercised when a
request of its kind was answered, whatever the status (asserts judge the answers).

The rule, since 147 types x 8 interactions and ~2,500 (type, parameter) pairs are claimed,
while one code path serves each interaction and each parameter type for every resource:

- gated (each one missing is a gap; `--coverage` fails on gaps): every interaction code
  claimed at type or system level, on some resource type; every operation claimed; every
  search parameter *type* claimed (token, date, string, reference, ...), on some resource
  type; each claimed format (JSON and XML); the conditional create / update / delete
  claimed; `_include` / `_revinclude` when any searchInclude / searchRevInclude is claimed;
- reported only: the claimed search parameter *names* no script searched on any type, and
  the modifiers, prefixes and chains the suite used.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from conformance.transport import Exchange
from fhir_server.errors import FhirError
from fhir_server.exchange import Interaction
from fhir_server.routing import Route, route

__all__ = ["Claims", "Coverage", "Recorder", "claims_from", "coverage"]

_SEARCHES = (Interaction.SEARCH_TYPE, Interaction.SEARCH_SYSTEM)
# Result parameters (search.html#return) and the format ones (http.html#parameters).
_NOT_SEARCH = {
    "_count",
    "_sort",
    "_summary",
    "_elements",
    "_total",
    "_contained",
    "_containedType",
    "_format",
    "_pretty",
    "_include",
    "_revinclude",
}
_PREFIX = re.compile(r"^(eq|ne|gt|lt|ge|le|sa|eb|ap)(?=[0-9-])")


@dataclass
class Claims:
    """What a CapabilityStatement claims, in the terms the coverage rule counts."""

    interactions: set[str] = field(default_factory=set)
    operations: set[str] = field(default_factory=set)
    # search parameter name -> its type, per resource type ("" for system-level ones)
    params: dict[str, dict[str, str]] = field(default_factory=dict)
    formats: set[str] = field(default_factory=set)
    conditional: set[str] = field(default_factory=set)
    includes: set[str] = field(default_factory=set)

    def param_type(self, resource_type: str | None, name: str) -> str | None:
        for rtype in (resource_type or "", ""):
            if name in self.params.get(rtype, {}):
                return self.params[rtype][name]
        if resource_type is None:  # a system search: any type's definition of the name
            for per_type in self.params.values():
                if name in per_type:
                    return per_type[name]
        return None


def claims_from(statement: dict[str, Any]) -> Claims:
    claims = Claims()
    for fmt in statement.get("format") or ():
        claims.formats.add("xml" if "xml" in str(fmt) else "json")
    for rest in statement.get("rest") or ():
        if rest.get("mode") != "server":
            continue
        claims.interactions |= {str(i.get("code")) for i in rest.get("interaction") or ()}
        claims.operations |= {str(o.get("name")).lstrip("$") for o in rest.get("operation") or ()}
        _add_params(claims, "", rest.get("searchParam"))
        for resource in rest.get("resource") or ():
            _add_resource(claims, resource)
    return claims


def _add_resource(claims: Claims, resource: dict[str, Any]) -> None:
    claims.interactions |= {str(i.get("code")) for i in resource.get("interaction") or ()}
    claims.operations |= {str(o.get("name")).lstrip("$") for o in resource.get("operation") or ()}
    _add_params(claims, str(resource.get("type")), resource.get("searchParam"))
    if resource.get("conditionalCreate"):
        claims.conditional.add("create")
    if resource.get("conditionalUpdate"):
        claims.conditional.add("update")
    if resource.get("conditionalDelete") in ("single", "multiple"):
        claims.conditional.add("delete")
    if resource.get("searchInclude"):
        claims.includes.add("_include")
    if resource.get("searchRevInclude"):
        claims.includes.add("_revinclude")


def _add_params(claims: Claims, rtype: str, params: Iterable[dict[str, Any]] | None) -> None:
    for param in params or ():
        claims.params.setdefault(rtype, {})[str(param.get("name"))] = str(param.get("type"))


@dataclass
class Recorder:
    """Classifies each answered request under `base_url` (pass `record` as `on_exchange`)."""

    base_url: str
    interactions: set[str] = field(default_factory=set)
    operations: set[str] = field(default_factory=set)
    searched: set[tuple[str | None, str]] = field(default_factory=set)
    formats: set[str] = field(default_factory=set)
    conditional: set[str] = field(default_factory=set)
    features: set[str] = field(default_factory=set)  # modifiers, prefixes, chains, includes

    def record(self, exchange: Exchange) -> None:
        if exchange.status is None:
            return
        base = urlsplit(self.base_url.rstrip("/"))
        url = urlsplit(exchange.url)
        if (url.scheme, url.netloc) != (base.scheme, base.netloc):
            return
        if not (url.path + "/").startswith(base.path + "/"):
            return
        segments = [s for s in url.path[len(base.path) :].split("/") if s]
        try:
            target = route(exchange.method, segments)
        except FhirError:
            return  # not a FHIR interaction this server knows; nothing to credit
        params = parse_qsl(url.query, keep_blank_values=True)
        if target.interaction is Interaction.SEARCH_SYSTEM or segments[-1:] == ["_search"]:
            params += parse_qsl((exchange.request_body or b"").decode("utf-8", "replace"))
        self._interaction(exchange, target)
        self.formats.add(_format(exchange, params))
        if target.interaction in _SEARCHES:
            self._search(target.resource_type, params)

    def _interaction(self, exchange: Exchange, target: Route) -> None:
        interaction = target.interaction
        if interaction is Interaction.TRANSACTION:
            content = exchange.request_content
            body = content.data if content is not None else None
            if isinstance(body, dict) and body.get("type") == "batch":
                interaction = Interaction.BATCH
        if interaction is Interaction.OPERATION:
            self.operations.add(target.operation or "")
        self.interactions.add(str(interaction))
        if interaction is Interaction.CREATE and exchange.header("if-none-exist", request=True):
            self.conditional.add("create")
        if interaction in (Interaction.UPDATE, Interaction.DELETE) and target.resource_id is None:
            self.conditional.add(str(interaction))
        if exchange.header("if-match", request=True):
            self.features.add("If-Match")

    def _search(self, resource_type: str | None, params: list[tuple[str, str]]) -> None:
        for raw_name, value in params:
            if raw_name in ("_include", "_revinclude"):
                self.features.add(raw_name + (":iterate" if value.endswith(":iterate") else ""))
                continue
            if raw_name in _NOT_SEARCH:
                self.features.add(raw_name)
                continue
            name, _, modifier = raw_name.partition(":")
            if name == "_has":  # _has:Type:param:target=value, a reverse chain
                self.features.add("_has")
                self.searched.add((resource_type, name))
                continue
            if "." in name:  # a chain: `subject.name`
                name = name.split(".", 1)[0]
                self.features.add("chain")
            if "." in modifier:  # a typed chain: `subject:Patient.name`
                self.features.add("chain")
            elif modifier:
                self.features.add(f":{modifier}")
            prefix = _PREFIX.match(value)
            if prefix:
                self.features.add(f"prefix {prefix.group(1)}")
            self.searched.add((resource_type, name))


def _format(exchange: Exchange, params: list[tuple[str, str]]) -> str:
    """The format an exchange exercised: XML when the body or the answer was XML."""
    asked = dict(params).get("_format") or exchange.header("accept", request=True) or ""
    sent = exchange.header("content-type", request=True) or ""
    return "xml" if "xml" in asked or "xml" in sent else "json"


@dataclass(frozen=True)
class Coverage:
    """Claimed but not exercised: `gaps` fail the check, the rest is information."""

    gaps: list[str]
    unsearched: dict[str, list[str]]  # param type -> names claimed but never searched
    summary: list[str]

    def text(self, names_shown: int | None = None) -> str:
        """The report; `names_shown` caps the unsearched names listed per type."""
        lines = ["capability coverage", *(f"  {line}" for line in self.summary)]
        lines += [f"  GAP  {gap}" for gap in self.gaps]
        for ptype, names in sorted(self.unsearched.items()):
            shown = names if names_shown is None else names[:names_shown]
            more = f", ... {len(names) - len(shown)} more" if len(shown) < len(names) else ""
            lines.append(f"  not searched ({ptype}, {len(names)}): {', '.join(shown)}{more}")
        lines.append(f"  {len(self.gaps)} gap(s)")
        return "\n".join(lines)


def coverage(claims: Claims, seen: Recorder) -> Coverage:
    gaps: list[str] = []
    gaps += [f"interaction {code}" for code in sorted(claims.interactions - seen.interactions)]
    gaps += [f"operation ${name}" for name in sorted(claims.operations - seen.operations)]
    gaps += [f"format {fmt}" for fmt in sorted(claims.formats - seen.formats)]
    gaps += [f"conditional {kind}" for kind in sorted(claims.conditional - seen.conditional)]
    gaps += [f"search feature {name}" for name in sorted(claims.includes - seen.features)]
    searched_types = {claims.param_type(rtype, name) for rtype, name in seen.searched}
    claimed_names: dict[str, set[str]] = {}
    for per_type in claims.params.values():
        for name, ptype in per_type.items():
            claimed_names.setdefault(ptype, set()).add(name)
    gaps += [f"search parameter type {t}" for t in sorted(set(claimed_names) - searched_types)]
    searched_names = {name for _, name in seen.searched}
    unsearched = {
        ptype: sorted(names - searched_names)
        for ptype, names in claimed_names.items()
        if names - searched_names
    }
    pairs = sum(len(per_type) for per_type in claims.params.values())
    summary = [
        f"interactions: {len(claims.interactions & seen.interactions)}"
        f"/{len(claims.interactions)} claimed exercised",
        f"search parameter types: {len(set(claimed_names) & searched_types)}"
        f"/{len(claimed_names)} claimed exercised",
        f"search parameters: {len(seen.searched)} (type, name) searched; "
        f"{len(searched_names & _all(claimed_names))}/{len(_all(claimed_names))} claimed names "
        f"({pairs} type/name pairs) searched on some type",
        f"formats: {', '.join(sorted(seen.formats)) or 'none'}; "
        f"features used: {', '.join(sorted(seen.features)) or 'none'}",
    ]
    return Coverage(gaps, unsearched, summary)


def _all(by_type: dict[str, set[str]]) -> set[str]:
    return set().union(*by_type.values()) if by_type else set()
