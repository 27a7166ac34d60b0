"""A small FHIR-like server for the engine's tests: stdlib http.server on 127.0.0.1.

It keeps resources in a dict and answers the interactions the TestScripts use: read,
vread, search (prefix match on any element with the parameter's name), history, create,
update (and create-on-update), delete, JSON Patch, transaction/batch and capabilities, in
JSON or XML (through fhir_server.xml_format). It records every request it sees, so tests can
check what the engine sent. It is not a FHIR server: no validation, no real search.
"""

from __future__ import annotations

import itertools
import re
import threading
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from fhir_server.errors import FhirError
from fhir_server.xml_format import parse_xml, render_xml

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")
_CONTROL = {"_count", "_format", "_sort", "_summary", "_elements"}


def _outcome(text: str, code: str = "processing") -> dict[str, Any]:
    issue = {"severity": "error", "code": code, "diagnostics": text}
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def _values(node: Any, name: str) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == name:
                items = value if isinstance(value, list) else [value]
                found.extend(str(v) for v in items if not isinstance(v, dict | list))
            found.extend(_values(value, name))
    elif isinstance(node, list):
        for item in node:
            found.extend(_values(item, name))
    return found


class StubFhirServer:
    """Start with `with StubFhirServer() as server:`; `server.base_url` is its base."""

    def __init__(self, omit_headers: set[str] | None = None) -> None:
        self.versions: dict[tuple[str, str], list[dict[str, Any] | None]] = {}
        self.requests: list[dict[str, Any]] = []
        self.omit_headers = {h.lower() for h in omit_headers or set()}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> StubFhirServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def current(self, kind: str, rid: str) -> dict[str, Any] | None:
        history = self.versions.get((kind, rid))
        return history[-1] if history else None

    def put(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Store a resource as the next version (used by tests to seed data too)."""
        key = (str(resource["resourceType"]), str(resource["id"]))
        history = self.versions.setdefault(key, [])
        stored = dict(resource)
        now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        stored["meta"] = {"versionId": str(len(history) + 1), "lastUpdated": now}
        history.append(stored)
        return stored

    # -- interactions: each returns (status, body, extra headers) -------------------------

    def handle(
        self, method: str, path: str, query: str, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        parts = [p for p in path.split("/") if p]
        with self._lock:
            if method == "GET" and parts == ["metadata"]:
                return 200, self._capabilities(), {}
            if method == "POST" and not parts:
                return self._bundle(body)
            if not parts or not _TYPE.match(parts[0]):
                return 404, _outcome(f"unknown path /{path}", "not-found"), {}
            kind = parts[0]
            if len(parts) > 1 and parts[1] != "_history" and not _ID.match(parts[1]):
                return 400, _outcome(f"invalid id '{parts[1]}'", "invalid"), {}
            return self._route(method, kind, parts[1:], query, body)

    def _route(
        self, method: str, kind: str, rest: list[str], query: str, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        if method == "GET" and not rest:
            return 200, self._search(kind, query), {}
        if method == "POST" and not rest:
            return self._create(kind, body)
        rid = rest[0]
        if method == "GET" and len(rest) == 1:
            return self._read(kind, rid)
        if method == "GET" and rest[1:] == ["_history"]:
            return self._history(kind, rid)
        if method == "GET" and len(rest) == 3 and rest[1] == "_history":
            return self._vread(kind, rid, rest[2])
        if method == "PUT" and len(rest) == 1:
            return self._update(kind, rid, body)
        if method == "DELETE" and len(rest) == 1:
            existed = self.current(kind, rid) is not None
            if existed:
                self.versions[(kind, rid)].append(None)
            return (200, _outcome("deleted", "informational"), {}) if existed else (204, None, {})
        if method == "PATCH" and len(rest) == 1:
            return self._patch(kind, rid, body)
        return 405, _outcome(f"{method} not supported here", "not-supported"), {}

    def _capabilities(self) -> dict[str, Any]:
        return {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json", "xml"],
            "rest": [{"mode": "server"}],
        }

    def _read(self, kind: str, rid: str) -> tuple[int, Any, dict[str, str]]:
        history = self.versions.get((kind, rid))
        if not history:
            return 404, _outcome(f"{kind}/{rid} not found", "not-found"), {}
        if history[-1] is None:
            return 410, _outcome(f"{kind}/{rid} was deleted", "deleted"), {}
        return 200, history[-1], {}

    def _vread(self, kind: str, rid: str, vid: str) -> tuple[int, Any, dict[str, str]]:
        history = self.versions.get((kind, rid)) or []
        if not vid.isdigit() or not 0 < int(vid) <= len(history) or history[int(vid) - 1] is None:
            return 404, _outcome(f"{kind}/{rid}/_history/{vid} not found", "not-found"), {}
        return 200, history[int(vid) - 1], {}

    def _create(self, kind: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(body, dict) or body.get("resourceType") != kind:
            return 400, _outcome(f"the body is not a {kind}", "invalid"), {}
        resource = dict(body, id=f"s{next(self._ids)}")
        stored = self.put(resource)
        return 201, stored, {"location": self._location(stored)}

    def _update(self, kind: str, rid: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(body, dict) or body.get("resourceType") != kind:
            return 400, _outcome(f"the body is not a {kind}", "invalid"), {}
        if body.get("id") not in (None, rid):
            return 400, _outcome("the id in the body does not match the URL", "invalid"), {}
        created = self.current(kind, rid) is None
        stored = self.put(dict(body, id=rid))
        return (201 if created else 200), stored, {"location": self._location(stored)}

    def _patch(self, kind: str, rid: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        current = self.current(kind, rid)
        if current is None:
            return 404, _outcome(f"{kind}/{rid} not found", "not-found"), {}
        patched = orjson.loads(orjson.dumps(current))
        for op in body if isinstance(body, list) else []:
            *parents, last = [p for p in str(op.get("path", "")).split("/") if p]
            target = patched
            for part in parents:
                target = target[int(part)] if isinstance(target, list) else target[part]
            if op.get("op") in ("add", "replace") and isinstance(target, dict):
                target[last] = op.get("value")
            elif op.get("op") == "remove" and isinstance(target, dict):
                target.pop(last, None)
        return 200, self.put(patched), {}

    def _location(self, resource: dict[str, Any]) -> str:
        kind, rid, vid = resource["resourceType"], resource["id"], resource["meta"]["versionId"]
        return f"{self.base_url}/{kind}/{rid}/_history/{vid}"

    def _search(self, kind: str, query: str) -> dict[str, Any]:
        params = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in _CONTROL]
        matches = []
        for (stored_kind, _rid), history in sorted(self.versions.items()):
            resource = history[-1]
            if stored_kind != kind or resource is None:
                continue
            if all(self._matches(resource, name, value) for name, value in params):
                matches.append(resource)
        url = f"{self.base_url}/{kind}" + (f"?{query}" if query else "")
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matches),
            "link": [{"relation": "self", "url": url}],
            "entry": [
                {
                    "fullUrl": f"{self.base_url}/{kind}/{r['id']}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in matches
            ],
        }

    @staticmethod
    def _matches(resource: dict[str, Any], name: str, value: str) -> bool:
        name = name.split(":", 1)[0]
        if name == "_id":
            return resource.get("id") == value
        wanted = value.lower()
        return any(v.lower().startswith(wanted) for v in _values(resource, name))

    def _history(self, kind: str, rid: str) -> tuple[int, Any, dict[str, str]]:
        history = self.versions.get((kind, rid))
        if not history:
            return 404, _outcome(f"{kind}/{rid} not found", "not-found"), {}
        entries = [
            {"fullUrl": f"{self.base_url}/{kind}/{rid}", "resource": r}
            for r in reversed(history)
            if r is not None
        ]
        bundle = {
            "resourceType": "Bundle",
            "type": "history",
            "total": len(entries),
            "entry": entries,
        }
        return 200, bundle, {}

    def _bundle(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        kind = body.get("type") if isinstance(body, dict) else None
        if kind not in ("transaction", "batch"):
            return 400, _outcome("expected a transaction or batch Bundle", "invalid"), {}
        entries = []
        for entry in body.get("entry") or []:
            request = entry.get("request") or {}
            url = urlsplit(str(request.get("url", "")))
            status, result, headers = self._route_entry(
                str(request.get("method", "GET")), url.path, url.query, entry.get("resource")
            )
            response: dict[str, Any] = {"status": str(status)}
            if "location" in headers:
                response["location"] = headers["location"]
            entries.append(
                {"resource": result, "response": response} if result else {"response": response}
            )
        return 200, {"resourceType": "Bundle", "type": f"{kind}-response", "entry": entries}, {}

    def _route_entry(
        self, method: str, path: str, query: str, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        parts = [p for p in path.split("/") if p]
        if not parts or not _TYPE.match(parts[0]):
            return 404, _outcome("bad entry url", "not-found"), {}
        return self._route(method, parts[0], parts[1:], query, body)


def _handler_for(server: StubFhirServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            server.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": raw,
                }
            )
            body: Any = None
            if raw:
                is_xml = "xml" in (self.headers.get("content-type") or "")
                try:
                    body = parse_xml(raw) if is_xml else orjson.loads(raw)
                except Exception:
                    self._send(400, _outcome("unreadable body", "structure"), {})
                    return
            method = "GET" if self.command == "HEAD" else self.command
            status, result, headers = server.handle(method, split.path, split.query, body)
            self._send(status, result, headers)

        def _send(self, status: int, result: Any, headers: dict[str, str]) -> None:
            wants_xml = "xml" in (self.headers.get("accept") or "")
            payload = b""
            all_headers = dict(headers)
            if result is not None and wants_xml:
                try:
                    payload = render_xml(result)
                except FhirError as exc:  # stored as sent, so it may not be valid FHIR
                    status, result, wants_xml = 500, _outcome(f"cannot render: {exc}"), False
            if result is not None:
                payload = payload or orjson.dumps(result)
                all_headers["content-type"] = (
                    f"application/fhir+{'xml' if wants_xml else 'json'}; charset=utf-8"
                )
                meta = result.get("meta") if isinstance(result, dict) else None
                if isinstance(meta, dict) and "versionId" in meta:
                    all_headers["etag"] = f'W/"{meta["versionId"]}"'
                    all_headers["last-modified"] = format_datetime(datetime.now(UTC), usegmt=True)
            self.send_response(status)
            for name, value in all_headers.items():
                if name not in server.omit_headers:
                    self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def do_GET(self) -> None:
            self._serve()

        def do_HEAD(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_PUT(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

        def do_PATCH(self) -> None:
            self._serve()

    return Handler
