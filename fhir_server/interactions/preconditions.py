"""`If-Match` on version-aware writes (http.html#concurrency, RFC 9110 13.1.1).

The header holds `*` or a list of entity tags; an update, patch or delete goes ahead only
while one of them names the current version. FHIR's tags are `W/"{versionId}"`, and a
versionId is an opaque string: `W/"003"` does not name version 3, it names nothing here
(RFC 9110 8.8.3.2: tags compare character by character).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fhir_server.errors import BadRequest, PreconditionFailed
from fhir_server.storage.contracts import StoredVersion

__all__ = ["IfMatch", "parse_if_match"]

# RFC 9110 8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text;
# a list of them may hold empty elements, which a recipient ignores (5.6.1)
_TAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
_LIST = re.compile(rf"[\s,]*{_TAG}(?:\s*,[\s,]*{_TAG})*[\s,]*")


@dataclass(frozen=True, slots=True)
class IfMatch:
    """The tags of an `If-Match` header; `tags` is None for `*`."""

    tags: frozenset[str] | None

    def current_version(self, what: str, current: StoredVersion | None) -> int:
        """The version the write must replace (its compare-and-swap), or 412. A tag
        names a version whether or not it is a deletion; `*` needs a resource that is
        there (RFC 9110: "no current representation" fails it)."""
        if current is not None:
            if self.tags is None and not current.deleted:
                return current.version
            if self.tags is not None and str(current.version) in self.tags:
                return current.version
        named = "*" if self.tags is None else ", ".join(sorted(self.tags))[:60]
        state = "none" if current is None else f'"{current.version}"'
        raise PreconditionFailed(
            f"If-Match names {named}, but the current version of {what} is {state}"
        )


def parse_if_match(header: str | None) -> IfMatch | None:
    """The `If-Match` header's condition, None without one; 400 when it is no `*` and no
    list of entity tags (a bare `3` or an unclosed quote)."""
    if header is None:
        return None
    if header.strip() == "*":
        return IfMatch(None)
    if not _LIST.fullmatch(header):
        raise BadRequest(f"If-Match must be an ETag like W/\"3\", not '{header[:40]}'")
    return IfMatch(frozenset(re.findall(r'"([^"]*)"', header)))
