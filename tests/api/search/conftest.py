from __future__ import annotations

import httpx
import pytest

from tests.api.search.dataset import load


@pytest.fixture
async def record(client: httpx.AsyncClient) -> httpx.AsyncClient:
    await load(client)
    return client
