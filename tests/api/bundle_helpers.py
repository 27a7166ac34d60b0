"""Building transaction and batch Bundles, and reading their responses, for the API tests."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.resources import FHIR_JSON


def entry(
    method: str,
    url: str,
    resource: dict[str, Any] | None = None,
    full_url: str | None = None,
    **request: str,
) -> dict[str, Any]:
    found: dict[str, Any] = {"request": {"method": method, "url": url, **request}}
    if resource is not None:
        found["resource"] = resource
    if full_url is not None:
        found["fullUrl"] = full_url
    return found


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


async def post_bundle(
    client: httpx.AsyncClient, body: dict[str, Any], **headers: str
) -> httpx.Response:
    return await client.post("", json=body, headers={**FHIR_JSON, **headers})


def target(response_entry: dict[str, Any]) -> str:
    """`Type/id` from an entry's response.location (`.../Type/id/_history/n`)."""
    location = response_entry["response"]["location"]
    return "/".join(location.split("/_history/")[0].split("/")[-2:])


def diagnostics(response: httpx.Response) -> str:
    return " ".join(issue.get("diagnostics", "") for issue in response.json()["issue"])


async def count(client: httpx.AsyncClient, rtype: str, **params: str) -> int:
    response = await client.get(rtype, params={**params, "_summary": "count"})
    assert response.status_code == 200, response.text
    return int(response.json()["total"])
