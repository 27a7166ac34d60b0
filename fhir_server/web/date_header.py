"""The `Date` header of every response, written by the app rather than by uvicorn.

uvicorn stamps responses with a date it refreshes about once a second, so it can be up
to a second behind the clock that stamps versions: a create then answered a
`Last-Modified` later than its `Date`, which RFC 9110 (8.8.2.1) forbids. `fhir-server
serve` turns uvicorn's header off (server.py) and this one, read from the clock as the
response starts, comes after every version time the response names.
"""

from __future__ import annotations

import time
from typing import Any

from fhir_server.instants import http_date

__all__ = ["date_header", "with_date"]

_last: tuple[int, bytes] = (-1, b"")


def date_header() -> tuple[bytes, bytes]:
    """`(b"date", IMF-fixdate of now)`, made once a second."""
    global _last
    second = time.time_ns() // 1_000_000_000
    if _last[0] != second:
        _last = (second, http_date(second * 1_000_000).encode())
    return b"date", _last[1]


def with_date(send: Any) -> Any:
    """`send`, adding the Date header to the start of a response."""

    async def send_dated(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), date_header()]}
        await send(message)

    return send_dated
