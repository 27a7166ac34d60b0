"""Run a suite and check it against the server's CapabilityStatement in the same pass.

What `fhir-server conformance run --coverage` and `conformance coverage` call: the scripts
run as with `main_run` (summaries, reports, optional POST of the TestReports), every request
is classified by `conformance.capability.Recorder`, and the coverage text follows (written
to `capability-coverage.txt`, with every unsearched name, beside the reports). See
`conformance.capability` for the rule.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import orjson

from conformance.capability import Coverage, Recorder, claims_from, coverage
from conformance.content import FHIR_JSON
from conformance.runner import main_run
from conformance.transport import Transport

__all__ = ["CapabilitiesUnavailable", "fetch_capabilities", "run_with_coverage"]


class CapabilitiesUnavailable(RuntimeError):
    """The server did not hand out a CapabilityStatement."""


def fetch_capabilities(server: str, auth: str | None) -> dict[str, Any]:
    with Transport(server, auth) as transport:
        exchange = transport.send("GET", "metadata", {"accept": FHIR_JSON})
    content = exchange.response_content
    data = content.data if content is not None else None
    if exchange.status != 200 or not isinstance(data, dict):
        raise CapabilitiesUnavailable(exchange.summary())
    if data.get("resourceType") != "CapabilityStatement":
        raise CapabilitiesUnavailable(f"{exchange.summary()}: not a CapabilityStatement")
    return data


def run_with_coverage(
    server: str,
    auth: str | None,
    scripts: list[str],
    report_dir: str | None,
    post_to: str | None,
    variables: Mapping[str, str] | None = None,
    *,
    require_pass: bool = True,
    must_pass: Collection[Path] | None = None,
) -> int:
    """0 when the scripts passed (if `require_pass`) and the coverage has no gap, else 1.

    2 when nothing could be run or the CapabilityStatement could not be read.
    """
    try:
        claims = claims_from(fetch_capabilities(server, auth))
    except CapabilitiesUnavailable as exc:
        print(f"error: no CapabilityStatement from {server}: {exc}")
        return 2
    recorder = Recorder(server)
    status = main_run(
        server,
        auth,
        scripts,
        report_dir,
        post_to,
        variables,
        on_exchange=recorder.record,
        must_pass=must_pass,
    )
    if status == 2:
        return status
    result = coverage(claims, recorder)
    print(result.text(names_shown=8))
    if report_dir:
        _write(Path(report_dir), result)
    failed = status != 0 and require_pass
    return 1 if failed or result.gaps else 0


def _write(report_dir: Path, result: Coverage) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "capability-coverage.txt").write_text(result.text() + "\n", encoding="utf-8")
    (report_dir / "capability-coverage.json").write_bytes(
        orjson.dumps(
            {"gaps": result.gaps, "summary": result.summary, "notSearched": result.unsearched},
            option=orjson.OPT_INDENT_2,
        )
    )
