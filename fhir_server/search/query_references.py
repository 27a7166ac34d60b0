"""Reference and uri search values (search.html#reference, #uri)."""

from __future__ import annotations

from fhir_server.errors import BadRequest
from fhir_server.search.normalize import parse_reference
from fhir_server.search.plan import ReferenceMatch
from fhir_server.search.registry import SearchParameterDef
from fhir_server.search.values import split_escaped, unescape

__all__ = ["reference_match", "uri_above"]


def reference_match(
    definition: SearchParameterDef, modifier: str, text: str, base_url: str, name: str
) -> ReferenceMatch:
    """One reference value: `Type/id`, `id` (typed by a `:Type` modifier or a sole target
    type), an absolute URL (local when it starts with this server's base), a canonical
    `url|version`, or `system|value` under `:identifier`."""
    if modifier == "identifier":
        parts = [unescape(p) for p in split_escaped(text, "|")]
        if len(parts) == 1:
            return ReferenceMatch(identifier_value=parts[0])
        if len(parts) == 2:
            return ReferenceMatch(
                identifier_system=parts[0] or None, identifier_value=parts[1] or None
            )
        raise BadRequest(f"'{text[:80]}' is not an identifier (system|value)", (name[:80],))
    value = unescape(text)
    if value.startswith(base_url + "/"):
        value = value[len(base_url) + 1 :]  # this server's own absolute URL: local
    if "/" not in value and ":" not in value:
        target_type = modifier or (definition.target[0] if len(definition.target) == 1 else None)
        return ReferenceMatch(target_type=target_type, target_id=value)
    parsed = parse_reference(value)
    if parsed is None:
        raise BadRequest(f"'{text[:80]}' is not a reference", (name[:80],))
    relative = not value.startswith(("http:", "https:", "urn:"))
    if relative and parsed.target_type is not None and parsed.target_id is not None:
        if modifier and parsed.target_type != modifier:
            raise BadRequest(f"'{text[:80]}' is not a {modifier} reference", (name[:80],))
        return ReferenceMatch(target_type=parsed.target_type, target_id=parsed.target_id)
    if parsed.url is None:
        raise BadRequest(f"'{text[:80]}' is not a reference", (name[:80],))
    return ReferenceMatch(url=parsed.url, version=parsed.version)


def uri_above(uri: str) -> list[str]:
    """The uri and every parent path of it: what `:above` accepts as a stored value."""
    found = [uri]
    head, sep, _ = uri.rstrip("/").rpartition("/")
    while sep and "//" in head and not head.endswith(":/") and not head.endswith("/"):
        found.append(head)
        head, sep, _ = head.rpartition("/")
    return found
