"""OperationOutcome resources (http://hl7.org/fhir/R4/operationoutcome.html).

The one place that shapes an OperationOutcome: errors rendered by the web layer and
`Prefer: return=OperationOutcome` answers both come from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fhir_server.errors import Issue

__all__ = ["operation_outcome"]


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    rendered = []
    for issue in issues:
        entry: dict[str, Any] = {
            "severity": issue.severity,
            "code": issue.code,
            "diagnostics": issue.diagnostics,
        }
        if issue.expression:
            entry["expression"] = list(issue.expression)
        rendered.append(entry)
    return {"resourceType": "OperationOutcome", "issue": rendered}
