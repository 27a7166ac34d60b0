"""Entry points: run TestScripts against a server, write and post their TestReports.

`main_run` is what the `fhir-server` CLI calls; `run_scripts` and `post_report` are the
library API under it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from conformance.content import FHIR_JSON
from conformance.engine import run_script
from conformance.loader import ScriptLoadError, discover, load_script
from conformance.report import build_report, stopped_report, summarize
from conformance.transport import Exchange, Transport

__all__ = ["ReportPostError", "ScriptResult", "main_run", "post_report", "run_scripts"]


class ReportPostError(RuntimeError):
    """The server refused (or never answered) the POST of a TestReport."""


@dataclass(frozen=True)
class ScriptResult:
    """The outcome of one TestScript file."""

    path: Path
    report: dict[str, Any]
    summary: str
    report_path: Path | None = None

    @property
    def passed(self) -> bool:
        return self.report.get("result") == "pass"


def _report_file(report_dir: Path, script: Path, used: set[str]) -> Path:
    # Public suites reuse ids and stems (read_testscript.json and .xml), so names are made
    # unique within one run rather than overwritten.
    stem = f"{script.stem}.testreport"
    name, counter = stem, 2
    while name in used:
        name, counter = f"{stem}-{counter}", counter + 1
    used.add(name)
    return report_dir / f"{name}.json"


def _run_one(path: Path, transport: Transport, variables: Mapping[str, str]) -> dict[str, Any]:
    try:
        script = load_script(path)
    except ScriptLoadError as exc:
        return stopped_report(path, transport.base_url, f"cannot load the TestScript: {exc}")
    try:
        return build_report(run_script(script, transport, variables))
    except Exception as exc:  # one broken script must not stop the others
        reason = f"the engine stopped on this script: {type(exc).__name__}: {exc}"
        return stopped_report(path, transport.base_url, reason)


def run_scripts(
    server_url: str,
    paths: list[Path],
    auth: str | None,
    report_dir: Path | None,
    *,
    variables: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    on_exchange: Callable[[Exchange], None] | None = None,
) -> list[ScriptResult]:
    """Run TestScript files (directories are searched) against `server_url`.

    `auth` is sent as the Authorization header of every request. `variables` gives values
    to TestScript variables by name (those with only a `hint` need one). With `report_dir`,
    each TestReport is written there as JSON. `on_exchange` sees every answered request.
    """
    results: list[ScriptResult] = []
    used: set[str] = set()
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
    with Transport(server_url, auth, timeout, on_exchange=on_exchange) as transport:
        for path in discover(paths):
            report = _run_one(path, transport, variables or {})
            written = None
            if report_dir is not None:
                written = _report_file(report_dir, path, used)
                written.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
            results.append(ScriptResult(path, report, summarize(report, str(path)), written))
    return results


def post_report(
    server_url: str, report: dict[str, Any], auth: str | None, *, timeout: float = 30.0
) -> str:
    """POST a TestReport to `[server_url]/TestReport`; the Location (or id) it got."""
    headers = {"content-type": FHIR_JSON, "accept": FHIR_JSON}
    with Transport(server_url, auth, timeout) as transport:
        exchange = transport.send("POST", "TestReport", headers, orjson.dumps(report))
    if exchange.status is None or not 200 <= exchange.status < 300:
        detail = _diagnostics(exchange.response_content.data if exchange.response_content else None)
        raise ReportPostError(f"{exchange.summary()}{detail}")
    location = exchange.header("location")
    if location:
        return location
    content = exchange.response_content
    return f"TestReport/{content.resource_id}" if content and content.resource_id else ""


def _diagnostics(body: Any) -> str:
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        texts = [str(i.get("diagnostics") or i.get("code")) for i in body.get("issue") or []]
        return ": " + "; ".join(texts)
    return ""


def main_run(
    server: str,
    auth: str | None,
    scripts: list[str],
    report_dir: str | None,
    post_to: str | None,
    variables: Mapping[str, str] | None = None,
    on_exchange: Callable[[Exchange], None] | None = None,
    must_pass: Collection[Path] | None = None,
) -> int:
    """Run the scripts, print the summaries; 0 when every script passed, else 1 (2: none).

    With `must_pass`, only those scripts decide the status (each must have run and passed);
    the others are still run, printed and reported (see `conformance.allowlist`).
    """
    gated = None if must_pass is None else {p.resolve() for p in must_pass}
    try:
        results = run_scripts(
            server,
            [Path(s) for s in scripts],
            auth,
            Path(report_dir) if report_dir else None,
            variables=variables,
            on_exchange=on_exchange,
        )
    except httpx.InvalidURL as exc:
        print(f"error: invalid server URL {server!r}: {exc}")
        return 2
    if not results:
        print(f"error: no TestScript found in {', '.join(scripts) or '(nothing given)'}")
        return 2
    failed = 0
    for result in results:
        print(result.summary)
        if result.report_path is not None:
            print(f"  report: {result.report_path}")
        if post_to:
            try:
                where = post_report(post_to, result.report, auth)
                print(f"  posted: {where or 'accepted'}")
            except ReportPostError as exc:
                print(f"  post failed: {exc}")
                failed += 1
        print()
        if not result.passed and (gated is None or result.path.resolve() in gated):
            failed += 1
    passed = sum(1 for r in results if r.passed)
    print(f"{len(results)} TestScripts: {passed} passed, {len(results) - passed} failed")
    if gated is not None:
        failed += _gate_summary(gated, results)
    return 1 if failed else 0


def _gate_summary(gated: set[Path], results: list[ScriptResult]) -> int:
    """Print how the must-pass scripts did; the number of them that did not run."""
    ran = {r.path.resolve() for r in results}
    missing = sorted(gated - ran)
    for path in missing:
        print(f"error: must-pass script {path} was not run (not found among the scripts)")
    bad = sum(1 for r in results if r.path.resolve() in gated and not r.passed)
    print(
        f"gate: {len(gated)} must-pass TestScripts, {bad} failed, {len(missing)} missing; "
        f"{len(ran - gated)} other TestScripts reported without gating"
    )
    return len(missing)
