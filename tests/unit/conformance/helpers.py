"""Builders for TestScripts and readers of TestReports, shared by the engine tests."""

from __future__ import annotations

from typing import Any

OPS = "http://terminology.hl7.org/CodeSystem/testscript-operation-codes"

PATIENT = {
    "resourceType": "Patient",
    "id": "example",
    "active": True,
    "name": [
        {"use": "official", "family": "Chalmers", "given": ["Peter", "James"]},
        {"use": "usual", "given": ["Jim"]},
    ],
    "gender": "male",
    "birthDate": "1974-12-25",
}


def op(code: str, **fields: Any) -> dict[str, Any]:
    """An operation action of type `code`."""
    return {"operation": {"type": {"system": OPS, "code": code}, **fields}}


def check(**fields: Any) -> dict[str, Any]:
    """An assert action."""
    return {"assert": {"warningOnly": False, **fields}}


def script(**fields: Any) -> dict[str, Any]:
    """A TestScript resource with the required elements filled in."""
    base: dict[str, Any] = {
        "resourceType": "TestScript",
        "id": "engine-test",
        "url": "http://example.org/TestScript/engine-test",
        "name": "EngineTest",
        "status": "draft",
    }
    base.update(fields)
    return base


def results(report: dict[str, Any], section: str | int) -> list[str]:
    """The action results of the setup, teardown, or test number `section`."""
    if isinstance(section, int):
        actions = report["test"][section]["action"]
    else:
        actions = report[section]["action"]
    return [next(iter(a.values()))["result"] for a in actions]


def messages(report: dict[str, Any], section: str | int) -> list[str]:
    if isinstance(section, int):
        actions = report["test"][section]["action"]
    else:
        actions = report[section]["action"]
    return [next(iter(a.values()))["message"] for a in actions]


def scripted(
    setup: list[dict[str, Any]] | None = None,
    tests: list[list[dict[str, Any]]] | None = None,
    teardown: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A TestScript from action lists: one list per test."""
    resource = script(**fields)
    if setup:
        resource["setup"] = {"action": setup}
    if tests:
        resource["test"] = [
            {"id": f"t{index}", "name": f"test {index}", "action": actions}
            for index, actions in enumerate(tests)
        ]
    if teardown:
        resource["teardown"] = {"action": teardown}
    return resource


def fixture(fixture_id: str, reference: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": fixture_id,
        "autocreate": False,
        "autodelete": False,
        "resource": {"reference": reference},
        **fields,
    }
