"""The result of one action, as TestReport records it (http://hl7.org/fhir/R4/testreport.html).

Codes from http://hl7.org/fhir/R4/valueset-report-action-result-codes.html: pass, skip,
fail, warning, error. `fail` means a check ran and did not hold; `error` means the action
could not be carried out (no response, a fixture or variable that does not exist, a
malformed assert).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["PASSING", "Outcome", "said"]

Result = Literal["pass", "skip", "fail", "warning", "error"]

# Results that let execution go on; a warning is a failed warningOnly assert.
PASSING: frozenset[str] = frozenset({"pass", "warning"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """One action's result: `kind` is "operation" or "assert"."""

    kind: Literal["operation", "assert"]
    result: Result
    message: str

    @property
    def ok(self) -> bool:
        return self.result in PASSING


def said(element: dict[str, Any], fallback: str, detail: str) -> str:
    """A report message: the action's label (else `fallback`), what happened, then its
    description, so the outcome comes first when messages are cut short."""
    label = element.get("label") or fallback
    description = element.get("description")
    text = f"{label}: {detail}"
    return f"{text} ({description})" if description else text
