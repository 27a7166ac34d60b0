"""Variables: where their values come from, when, and where `${name}` is replaced."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conformance.runner import ScriptResult
from tests.unit.conformance.conformance_stub import StubFhirServer
from tests.unit.conformance.helpers import PATIENT, check, fixture, messages, op, results, scripted

Write = Callable[..., Path]
Run = Callable[..., ScriptResult]

VARIABLES = [
    {"name": "knownId", "defaultValue": "example"},
    {"name": "fixtureId", "path": "Patient/id", "sourceId": "pat"},
    {"name": "fixtureFamily", "expression": "Patient.name.first().family", "sourceId": "pat"},
    {"name": "createdAt", "headerField": "Location", "sourceId": "created"},
    {"name": "lastTotal", "expression": "Bundle.total"},
    {"name": "lastGender", "path": "fhir:Patient/fhir:gender/@value", "defaultValue": "none"},
    {"name": "asked", "hint": "[a family name]", "description": "given by the tester"},
]


def test_values_from_defaults_fixtures_headers_and_responses(
    stub: StubFhirServer, write: Write, run: Run
) -> None:
    stub.put(PATIENT)
    actions = [
        op("read", resource="Patient", params="/${knownId}"),
        check(response="okay"),
        check(expression="Patient.name.first().family", value="${fixtureFamily}"),
        check(path="fhir:Patient/fhir:gender/@value", value="${lastGender}"),
        op("create", resource="Patient", sourceId="pat", responseId="created"),
        op("read", url="${createdAt}", requestHeader=[{"field": "X-Id", "value": "${fixtureId}"}]),
        check(response="okay"),
        check(direction="request", headerField="X-Id", value="example"),
        check(requestURL="${createdAt}"),
        op("search", resource="Patient", params="?family=${fixtureFamily}"),
        check(expression="Bundle.total", value="${lastTotal}"),  # evaluated when used
        check(expression="Bundle.total", value="2"),
        check(value="${lastGender}", expression="'none'"),  # a Bundle has no gender: default
    ]
    resource = scripted(fixture=[fixture("pat", "p.json")], variable=VARIABLES, tests=[actions])
    report = run(write(resource, {"p.json": PATIENT})).report
    assert results(report, 0) == ["pass"] * len(actions), messages(report, 0)
    paths = [r["path"] for r in stub.requests]
    assert paths == [
        "/Patient/example",
        "/Patient",
        "/Patient/s1/_history/1",
        "/Patient?family=Chalmers",
    ]


def test_a_hint_only_variable_needs_a_value_from_the_tester(
    stub: StubFhirServer, write: Write, run: Run
) -> None:
    stub.put(PATIENT)
    actions = [
        op("search", resource="Patient", params="?family=${asked}"),
        check(expression="Bundle.total", value="1"),
    ]
    path = write(
        scripted(variable=VARIABLES, tests=[actions], fixture=[fixture("pat", "p.json")]),
        {"p.json": PATIENT},
    )
    unanswered = run(path).report
    assert results(unanswered, 0) == ["error", "skip"]
    assert (
        "variable 'asked' needs a value from the tester (hint: [a family name])"
        in messages(unanswered, 0)[0]
    )
    answered = run(path, variables={"asked": "chalmers"}).report
    assert results(answered, 0) == ["pass", "pass"]
    assert stub.requests[-1]["path"] == "/Patient?family=chalmers"


def test_a_variable_whose_source_has_not_run_yet(
    stub: StubFhirServer, write: Write, run: Run
) -> None:
    actions = [op("read", url="${createdAt}")]
    report = run(write(scripted(variable=VARIABLES, tests=[actions]))).report
    assert results(report, 0) == ["error"]
    assert (
        "variable 'createdAt' has no value yet (nothing found in created)" in messages(report, 0)[0]
    )
