"""The TestReport resource (http://hl7.org/fhir/R4/testreport.html) and a text summary.

- `status` is `completed` when the script ran, `stopped` when it could not be loaded;
- `result` is `fail` when any action failed or errored, else `pass` (`pending` is for
  reports of runs still going, which this engine never writes);
- `score` is the percentage of tests that passed (TestReport.score: "percentage of tests
  passed"): a test passes when none of its actions failed, errored or was skipped (a
  warning passes); a script without tests scores 100 when it passed;
- each action result carries a `message` saying what was expected and what came.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conformance.engine import Execution
from conformance.outcome import Outcome

__all__ = ["ENGINE_URI", "build_report", "stopped_report", "summarize"]

ENGINE_URI = "urn:fhir-server:conformance"
TESTER = "fhir-server conformance engine"
_FAILING = ("fail", "error")


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _action(outcome: Outcome, teardown: bool = False) -> dict[str, Any]:
    # TestReport.teardown.action only has `operation`; an assert placed in a teardown is
    # reported there, its message saying it was an assert.
    kind = "operation" if teardown else outcome.kind
    message = outcome.message
    if teardown and outcome.kind == "assert":
        message = f"(assert) {message}"
    return {kind: {"result": outcome.result, "message": message}}


def _outcomes(execution: Execution) -> list[Outcome]:
    return [
        *execution.setup,
        *(o for test in execution.tests for o in test.outcomes),
        *execution.teardown,
    ]


def _score(execution: Execution, passed: bool) -> float:
    if not execution.tests:
        return 100.0 if passed else 0.0
    good = sum(
        1
        for test in execution.tests
        if test.outcomes and all(o.result in ("pass", "warning") for o in test.outcomes)
    )
    return round(100.0 * good / len(execution.tests), 2)


def _script_reference(resource: dict[str, Any], fallback: str) -> dict[str, Any]:
    display = str(resource.get("title") or resource.get("name") or fallback)
    if resource.get("url"):
        return {"reference": str(resource["url"]), "display": display}
    if resource.get("id"):
        return {"reference": f"TestScript/{resource['id']}", "display": display}
    return {"display": display}


def _base(name: str, server_url: str, issued: datetime) -> dict[str, Any]:
    return {
        "resourceType": "TestReport",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "name": name,
        "tester": TESTER,
        "issued": _instant(issued),
        "participant": [
            {"type": "test-engine", "uri": ENGINE_URI, "display": TESTER},
            {"type": "server", "uri": server_url},
        ],
    }


def build_report(execution: Execution) -> dict[str, Any]:
    """The TestReport of one run."""
    script = execution.script
    outcomes = _outcomes(execution)
    passed = not any(o.result in _FAILING for o in outcomes)
    report = _base(script.name, execution.server_url, execution.finished or datetime.now(UTC))
    report["status"] = "completed"
    report["testScript"] = _script_reference(script.resource, script.path.name)
    report["result"] = "pass" if passed else "fail"
    report["score"] = _score(execution, passed)
    if execution.setup:
        report["setup"] = {"action": [_action(o) for o in execution.setup]}
    tests = []
    for test in execution.tests:
        entry: dict[str, Any] = {}
        if test.name:
            entry["name"] = test.name
        if test.description:
            entry["description"] = test.description
        entry["action"] = [_action(o) for o in test.outcomes] or [
            {"operation": {"result": "skip", "message": "the test has no actions"}}
        ]
        tests.append(entry)
    if tests:
        report["test"] = tests
    if execution.teardown:
        report["teardown"] = {"action": [_action(o, teardown=True) for o in execution.teardown]}
    return _ordered(report)


def stopped_report(path: Path, server_url: str, reason: str) -> dict[str, Any]:
    """The TestReport of a script that could not even be loaded."""
    report = _base(path.name, server_url, datetime.now(UTC))
    report["status"] = "stopped"
    report["testScript"] = {"display": str(path)}
    report["result"] = "fail"
    report["score"] = 0.0
    report["setup"] = {"action": [{"operation": {"result": "error", "message": reason}}]}
    return _ordered(report)


_ORDER = [
    "resourceType",
    "identifier",
    "name",
    "status",
    "testScript",
    "result",
    "score",
    "tester",
    "issued",
    "participant",
    "setup",
    "test",
    "teardown",
]


def _ordered(report: dict[str, Any]) -> dict[str, Any]:
    """Elements in the order of the specification, for people reading the JSON."""
    return {key: report[key] for key in _ORDER if key in report}


def _lines(section: str, actions: list[dict[str, Any]]) -> list[str]:
    lines = [f"  {section}"]
    for action in actions:
        kind, detail = next(iter(action.items()))
        message = str(detail.get("message", ""))
        if len(message) > 300:
            message = message[:297] + "..."
        lines.append(f"    {detail.get('result', '?'):<8}{kind:<10}{message}")
    return lines


def summarize(report: dict[str, Any], source: str | None = None) -> str:
    """A readable text summary of a TestReport."""
    name = report.get("name") or (report.get("testScript") or {}).get("display") or "TestScript"
    where = f"  ({source})" if source else ""
    head = (
        f"{str(report.get('result', '?')).upper():<5} {name}{where}  score {report.get('score')}%"
    )
    if report.get("status") != "completed":
        head += f"  [{report.get('status')}]"
    lines = [head]
    counts: Counter[str] = Counter()
    sections: list[tuple[str, list[dict[str, Any]]]] = []
    if "setup" in report:
        sections.append(("setup", report["setup"]["action"]))
    for test in report.get("test") or []:
        sections.append((f"test {test.get('name') or ''}".rstrip(), test.get("action") or []))
    if "teardown" in report:
        sections.append(("teardown", report["teardown"]["action"]))
    for section, actions in sections:
        lines.extend(_lines(section, actions))
        counts.update(str(next(iter(a.values())).get("result")) for a in actions)
    order = ("pass", "warning", "fail", "error", "skip")
    lines.append("  " + ", ".join(f"{counts[key]} {key}" for key in order))
    return "\n".join(lines)
