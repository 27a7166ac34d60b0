"""Every Synthea resource loads through batch and transaction Bundles and reads back as sent.

Opt-in: the Synthea sample is not part of the project; point ``FHIR_SYNTHEA_DIR`` at it
(``shared/synthea``). Apart from the server-assigned id, the references rewritten from
``urn:uuid:`` fullUrls or conditional references, and ``meta.versionId``/``lastUpdated``,
what comes back must equal what was sent, element for element.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from fhir_server.settings import Settings
from fhir_server.web.app import create_app
from tenancy import TenantId

SYNTHEA_DIR = os.environ.get("FHIR_SYNTHEA_DIR")
pytestmark = pytest.mark.skipif(not SYNTHEA_DIR, reason="set FHIR_SYNTHEA_DIR to run")


@pytest.fixture
async def sqlite_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(data_dir=tmp_path / "data", max_body_bytes=16 * 1024 * 1024))
    app.stores.tenants.create(TenantId("acme"), "2026-01-01T00:00:00Z")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/fhir/acme/") as http:
        yield http
    await app.aclose()


def _without_server_meta(resource: dict[str, Any]) -> dict[str, Any]:
    meta = {
        k: v for k, v in resource.get("meta", {}).items() if k not in ("versionId", "lastUpdated")
    }
    result = {k: v for k, v in resource.items() if k != "meta"}
    return {**result, "meta": meta} if meta else result


def _rewritten(node: Any, refs: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {k: _rewritten(v, refs) for k, v in node.items()}
        if out.get("reference") in refs:
            out["reference"] = refs[out["reference"]]
        return out
    if isinstance(node, list):
        return [_rewritten(item, refs) for item in node]
    return node


async def test_every_synthea_resource_reads_back_as_sent(
    sqlite_client: httpx.AsyncClient,
) -> None:
    assert SYNTHEA_DIR is not None
    files = sorted(Path(SYNTHEA_DIR).glob("*.json"))
    batches = [f for f in files if f.name.startswith(("hospital", "practitioner"))]
    sent: list[tuple[dict[str, Any], str]] = []
    refs: dict[str, str] = {}
    for path in batches + [f for f in files if f not in batches]:
        bundle = orjson.loads(path.read_bytes())
        response = await sqlite_client.post("", content=path.read_bytes())
        assert response.status_code == 200, (path.name, response.text[:300])
        for request, answer in zip(bundle["entry"], response.json()["entry"], strict=True):
            assert answer["response"]["status"] in ("200 OK", "201 Created"), answer
            where = answer["response"]["location"].split("/_history/")[0].split("/")[-2:]
            target = "/".join(where)
            refs[request["fullUrl"]] = target
            resource = request["resource"]
            for identifier in resource.get("identifier", []) if path in batches else []:
                key = f"{resource['resourceType']}?identifier={identifier['system']}|"
                refs[key + identifier["value"]] = target
            sent.append((resource, target))
    assert len(sent) == 18273
    for start in range(0, len(sent), 2000):
        chunk = sent[start : start + 2000]
        reads = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [{"request": {"method": "GET", "url": t}} for _, t in chunk],
        }
        answers = (await sqlite_client.post("", json=reads)).json()["entry"]
        for (resource, target), answer in zip(chunk, answers, strict=True):
            expected = _rewritten(resource, refs) | {"id": target.split("/")[1]}
            assert _without_server_meta(answer["resource"]) == _without_server_meta(expected), (
                target
            )
