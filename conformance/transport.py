"""HTTP to the server under test (httpx), and the record of one request/response pair.

Every request carries the tester's Authorization value when one is given, unless the
operation sets that header itself (TestScript.setup.action.operation.requestHeader).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

import httpx

from conformance.content import BodyError, Content, parse_body

__all__ = ["Exchange", "Transport"]

_USER_AGENT = "fhir-server-conformance/0.1"


@dataclass
class Exchange:
    """One HTTP exchange: what was sent and what came back (or why nothing came)."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes | None = None
    request_content: Content | None = None
    status: int | None = None
    reason: str = ""
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    response_content: Content | None = None
    body_error: str | None = None
    error: str | None = None
    elapsed_ms: float = 0.0

    def header(self, name: str, request: bool = False) -> str | None:
        headers = self.request_headers if request else self.response_headers
        return headers.get(name.lower())

    def summary(self) -> str:
        """`GET url -> 200 OK (type)` for report messages."""
        if self.status is None:
            return f"{self.method} {self.url} -> no response: {self.error}"
        kind = self.header("content-type")
        shown = f" ({kind})" if kind else ""
        return f"{self.method} {self.url} -> {self.status} {self.reason}{shown}".rstrip()


def _lower_keys(headers: httpx.Headers | dict[str, str]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for key, value in headers.items():
        name = key.lower()
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    return merged


class Transport:
    """A synchronous httpx client bound to the server under test and the tester's auth."""

    def __init__(
        self,
        base_url: str,
        auth: str | None = None,
        timeout: float = 30.0,
        client: httpx.Client | None = None,
        on_exchange: Callable[[Exchange], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        # Told of every answered exchange (the capability coverage check listens here).
        self.on_exchange = on_exchange
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self._owns_client = client is None
        # httpx sends `Accept: */*` by default; an operation with accept "none" sends none.
        self._client.headers.pop("accept", None)

    def __enter__(self) -> Transport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def absolute(self, url: str) -> str:
        """An absolute URL: relative ones are taken against the base URL."""
        if "://" in url:
            return url
        return f"{self.base_url}/{url.lstrip('/')}" if url else self.base_url

    def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        request_content: Content | None = None,
    ) -> Exchange:
        """Send a request; transport failures are recorded in the Exchange, not raised."""
        sent = {"user-agent": _USER_AGENT}
        sent.update(_lower_keys(headers or {}))
        if self.auth and "authorization" not in sent:
            sent["authorization"] = self.auth
        exchange = Exchange(method.upper(), self.absolute(url), sent, body, request_content)
        started = time.perf_counter()
        try:
            response = self._client.request(
                exchange.method, exchange.url, headers=sent, content=body
            )
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            exchange.error = f"{type(exc).__name__}: {exc}"
            return exchange
        finally:
            exchange.elapsed_ms = (time.perf_counter() - started) * 1000
        exchange.url = str(response.request.url)
        exchange.status = response.status_code
        exchange.reason = response.reason_phrase
        exchange.response_headers = _lower_keys(response.headers)
        exchange.response_body = response.content
        try:
            exchange.response_content = parse_body(
                response.content, exchange.header("content-type")
            )
        except BodyError as exc:
            exchange.body_error = str(exc)
        if self.on_exchange is not None:
            self.on_exchange(exchange)
        return exchange
