"""Assembling Bundle JSON around stored resource bytes (http://hl7.org/fhir/R4/bundle.html).

Stored resources are spliced into the Bundle as bytes: a page of twenty resources costs
twenty copies, not twenty parses and serializations.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from fhir_server.instants import format_instant, now_us
from fhir_server.resource_json import dump

__all__ = ["bundle_bytes", "entry_bytes", "link_url"]


def link_url(base: str, path: str, params: Sequence[tuple[str, str]]) -> str:
    # `,` and `:` need no escaping in a query (RFC 3986); kept as they are, links stay
    # readable and shorter (a search of many ORed values grew by a third escaped)
    url = f"{base}/{path}" if path else base
    return f"{url}?{urlencode(list(params), safe=',:')}" if params else url


def entry_bytes(
    *,
    full_url: str | None,
    resource: bytes | None,
    search_mode: str | None = None,
    request: dict[str, str] | None = None,
    response: dict[str, Any] | None = None,
) -> bytes:
    parts: list[bytes] = []
    if full_url is not None:
        parts.append(b'"fullUrl":' + dump(full_url))
    if resource is not None:
        parts.append(b'"resource":' + resource)
    if search_mode is not None:
        parts.append(b'"search":{"mode":' + dump(search_mode) + b"}")
    if request is not None:
        parts.append(b'"request":' + dump(request))
    if response is not None:
        parts.append(b'"response":' + dump(response))
    return b"{" + b",".join(parts) + b"}"


def bundle_bytes(
    bundle_type: str,
    *,
    total: int | None,
    links: Sequence[tuple[str, str]],
    entries: Sequence[bytes],
) -> bytes:
    head: dict[str, object] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": format_instant(now_us())},
        "type": bundle_type,
    }
    if total is not None:
        head["total"] = total
    if links:  # FHIR JSON has no empty arrays (a transaction-response has no links)
        head["link"] = [{"relation": relation, "url": url} for relation, url in links]
    encoded = dump(head)
    if not entries:
        return encoded
    return encoded[:-1] + b',"entry":[' + b",".join(entries) + b"]}"
