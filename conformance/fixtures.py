"""Fixtures and the exchanges that become fixtures (testscript.html#fixtures).

A static fixture (TestScript.fixture) is a resource given by reference: a file path
relative to the TestScript file (JSON or XML), a contained resource (`#id`), a
`Type/id` read from the server under test, or an absolute URL. Dynamic fixtures are the
bodies of responses stored under an operation's `responseId` (and requests under its
`requestId`); a responseId replaces a static fixture of the same id.

The store also remembers where each fixture lives on the server (type, id, version), from
the Location or body of the create/update that sent it, because a server assigns its own
ids on create and later `targetId`s must address the server's copy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.content import BodyError, Content, load_file
from conformance.transport import Exchange

__all__ = ["Fixture", "FixtureError", "FixtureStore", "ServerId", "flag", "load_fixtures"]

_SERVER_REFERENCE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/(\S+))?$")
_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


class FixtureError(LookupError):
    """A fixture id that names nothing usable."""


def flag(value: Any) -> bool:
    """A TestScript boolean; some public scripts write them as strings ("true")."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


@dataclass
class Fixture:
    """A static fixture: its content, or why it could not be loaded."""

    id: str
    reference: str
    content: Content | None = None
    error: str | None = None
    autocreate: bool = False
    autodelete: bool = False


@dataclass(frozen=True, slots=True)
class ServerId:
    """Where a resource lives on the server under test."""

    resource_type: str
    id: str
    version: str | None = None

    @classmethod
    def from_exchange(cls, exchange: Exchange) -> ServerId | None:
        """The identity of the resource a create/update answered with."""
        location = exchange.header("location") or exchange.header("content-location")
        if location:
            identity = cls.from_location(location)
            if identity is not None:
                return identity
        content = exchange.response_content
        if content is not None and content.resource_type and content.resource_id:
            meta = content.data.get("meta")
            version = meta.get("versionId") if isinstance(meta, dict) else None
            return cls(content.resource_type, content.resource_id, version)
        return None

    @classmethod
    def from_location(cls, location: str) -> ServerId | None:
        """`[base]/Type/id[/_history/vid]`, read from the end (the base may have any path)."""
        segments = [s for s in location.split("?", 1)[0].split("#", 1)[0].split("/") if s]
        version = None
        if len(segments) >= 4 and segments[-2] == "_history":
            version = segments[-1]
            segments = segments[:-2]
        if len(segments) < 2 or not _TYPE.match(segments[-2]) or not _ID.match(segments[-1]):
            return None
        return cls(segments[-2], segments[-1], version)

    @classmethod
    def from_content(cls, content: Content) -> ServerId | None:
        if content.resource_type and content.resource_id:
            meta = content.data.get("meta")
            version = meta.get("versionId") if isinstance(meta, dict) else None
            return cls(content.resource_type, content.resource_id, version)
        return None


@dataclass
class FixtureStore:
    """Static fixtures, stored exchanges, the last exchange and server identities."""

    fixtures: dict[str, Fixture] = field(default_factory=dict)
    responses: dict[str, Exchange] = field(default_factory=dict)
    requests: dict[str, Exchange] = field(default_factory=dict)
    server_ids: dict[str, ServerId] = field(default_factory=dict)
    # Per fixture, every resource this run put on the server from it (autocreate, and
    # creates or updates with it as sourceId): what autodelete removes, and nothing else.
    placed: dict[str, list[ServerId]] = field(default_factory=dict)
    last: Exchange | None = None

    def place(self, fixture_id: str, identity: ServerId) -> None:
        """Note that this run created `identity` from `fixture_id` (and addresses it there)."""
        self.server_ids[fixture_id] = identity
        if fixture_id in self.fixtures:
            placed = self.placed.setdefault(fixture_id, [])
            if all(
                (p.resource_type, p.id) != (identity.resource_type, identity.id) for p in placed
            ):
                placed.append(identity)

    def knows(self, fixture_id: str) -> bool:
        return any(fixture_id in m for m in (self.fixtures, self.responses, self.requests))

    def content(self, source_id: str | None, request: bool = False) -> Content | None:
        """The body named by `source_id` (the last exchange's when None)."""
        if source_id is None:
            if self.last is None:
                return None
            return self.last.request_content if request else self.last.response_content
        if request:
            exchange = self.requests.get(source_id) or self.responses.get(source_id)
            return exchange.request_content if exchange else None
        if source_id in self.responses:
            return self.responses[source_id].response_content
        fixture = self.fixtures.get(source_id)
        if fixture is None:
            if source_id in self.requests:
                return self.requests[source_id].request_content
            raise FixtureError(f"no fixture, responseId or requestId '{source_id}'")
        if fixture.content is None:
            raise FixtureError(f"fixture '{source_id}' could not be loaded: {fixture.error}")
        return fixture.content

    def exchange(self, source_id: str | None) -> Exchange | None:
        """The exchange named by a responseId/requestId (the last one when None)."""
        if source_id is None:
            return self.last
        exchange = self.responses.get(source_id) or self.requests.get(source_id)
        if exchange is None and source_id not in self.fixtures:
            raise FixtureError(f"no responseId or requestId '{source_id}'")
        return exchange

    def headers(self, source_id: str | None, request: bool = False) -> Mapping[str, str] | None:
        exchange = self.exchange(source_id)
        if exchange is None:
            return None
        if source_id is not None and source_id in self.requests and source_id not in self.responses:
            request = True  # a requestId has only the request side
        return exchange.request_headers if request else exchange.response_headers

    def target(self, fixture_id: str) -> ServerId:
        """Where the fixture `fixture_id` lives on the server."""
        if fixture_id in self.server_ids:
            return self.server_ids[fixture_id]
        content = self.content(fixture_id)
        identity = ServerId.from_content(content) if content is not None else None
        if identity is None:
            raise FixtureError(f"fixture '{fixture_id}' has no resource type and id to address")
        return identity


def load_fixtures(
    script: Mapping[str, Any],
    directory: Path,
    fetch: Callable[[str], Content],
) -> dict[str, Fixture]:
    """Load TestScript.fixture; `fetch` reads a `Type/id` or absolute URL from a server."""
    contained = {str(r.get("id")): r for r in script.get("contained") or [] if isinstance(r, dict)}
    loaded: dict[str, Fixture] = {}
    entries = script.get("fixture") or []
    for index, raw in enumerate(entries if isinstance(entries, list) else [entries]):
        entry = raw if isinstance(raw, dict) else {}  # no reference: an error below
        fixture_id = str(entry.get("id") or f"fixture[{index}]")
        resource = entry.get("resource")
        reference = str(resource.get("reference") or "") if isinstance(resource, dict) else ""
        fixture = Fixture(
            fixture_id,
            reference,
            autocreate=flag(entry.get("autocreate")),
            autodelete=flag(entry.get("autodelete")),
        )
        try:
            if resource is not None and not isinstance(resource, dict):
                raise FixtureError(f"fixture.resource must be a Reference, not {resource!r:.60}")
            fixture.content = _resolve(reference, directory, contained, fetch)
        except (BodyError, FixtureError) as exc:
            fixture.error = str(exc)
        loaded[fixture_id] = fixture
    return loaded


def _resolve(
    reference: str,
    directory: Path,
    contained: Mapping[str, dict[str, Any]],
    fetch: Callable[[str], Content],
) -> Content:
    if not reference:
        raise FixtureError("the fixture has no resource.reference")
    if reference.startswith("#"):
        resource = contained.get(reference[1:])
        if resource is None:
            raise FixtureError(f"no contained resource '{reference}'")
        return Content(resource)
    if "://" in reference:
        return fetch(reference)
    path = directory / reference
    for candidate in _file_candidates(directory, reference):
        if candidate.is_file():
            return load_file(candidate)
    if _SERVER_REFERENCE.match(reference) and path.suffix.lower() not in (".json", ".xml"):
        return fetch(reference)
    raise FixtureError(f"fixture file not found: {path}")


def _file_candidates(directory: Path, reference: str) -> list[Path]:
    """Where a file reference may point, in order.

    Relative to the TestScript's folder first. Two conventions of public suites follow:
    a leading `/` names a path from the root of the test definitions (Touchstone), so the
    folder's ancestors are tried; a leading `fixtures/` names the suite's fixture folder
    (fhir-crucible testscript-engine), so the path without it is tried too.
    """
    if reference.startswith("/"):
        relative = reference.lstrip("/")
        return [parent / relative for parent in (directory, *directory.parents)]
    candidates = [directory / reference]
    if reference.startswith("fixtures/"):
        candidates.append(directory / reference.removeprefix("fixtures/"))
    return candidates
