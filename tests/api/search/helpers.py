from __future__ import annotations

from typing import Any

import httpx


async def ids(
    client: httpx.AsyncClient, path: str, params: Any = None, **headers: str
) -> list[str]:
    response = await client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    bundle = response.json()
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


async def id_set(client: httpx.AsyncClient, path: str, params: Any = None) -> set[str]:
    return set(await ids(client, path, params))


async def paged_ids(client: httpx.AsyncClient, url: str) -> list[str]:
    """The ids of every page, first to last, following `next` links."""
    seen: list[str] = []
    page_url: str | None = url
    while page_url:
        page = (await client.get(page_url)).json()
        seen += [e["resource"]["id"] for e in page.get("entry", [])]
        page_url = next((k["url"] for k in page["link"] if k["relation"] == "next"), None)
    return seen


async def outcome(
    client: httpx.AsyncClient, path: str, params: Any, status: int = 400
) -> dict[str, Any]:
    response = await client.get(path, params=params)
    assert response.status_code == status, response.text
    body = dict(response.json())
    assert body["resourceType"] == "OperationOutcome"
    return body
