"""Setup, tests, teardown and fixtures: what runs, what is skipped, what the report says."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson

from conformance.content import serialize
from conformance.runner import ScriptResult, run_scripts
from fhir_server.validation import validate_resource
from tests.unit.conformance.conformance_stub import StubFhirServer
from tests.unit.conformance.helpers import PATIENT, check, fixture, messages, op, results, scripted

Write = Callable[..., Path]
Run = Callable[..., ScriptResult]

READ = op("read", resource="Patient", params="/example")


def test_a_passing_script_reports_pass_and_full_score(
    stub: StubFhirServer, write: Write, run: Run
) -> None:
    stub.put(PATIENT)
    result = run(write(scripted(tests=[[READ, check(response="okay")]])))
    report = result.report
    assert result.passed
    assert report["resourceType"] == "TestReport"
    assert report["status"] == "completed"
    assert report["result"] == "pass"
    assert report["score"] == 100.0
    assert report["tester"]
    assert report["issued"].endswith("Z")
    assert report["testScript"] == {
        "reference": "http://example.org/TestScript/engine-test",
        "display": "EngineTest",
    }
    assert {"type": "server", "uri": stub.base_url} in report["participant"]
    assert report["test"][0]["name"] == "test 0"
    assert validate_resource(report) == []  # a valid R4 TestReport


def test_a_failed_setup_skips_every_test_and_teardown_still_runs(
    stub: StubFhirServer, write: Write, run: Run
) -> None:
    resource = scripted(
        setup=[READ, check(response="okay", label="exists"), op("capabilities")],
        tests=[[op("capabilities"), check(response="okay")], [op("capabilities")]],
        teardown=[op("delete", resource="Patient", params="/example"), op("capabilities")],
    )
    result = run(write(resource))
    report = result.report
    assert not result.passed and report["result"] == "fail"
    assert results(report, "setup") == ["pass", "fail", "skip"]
    assert (
        messages(report, "setup")[1]
        == "exists: response: expected equals 'okay', got 'notFound' (HTTP 404)"
    )
    assert results(report, 0) == ["skip", "skip"]
    assert results(report, 1) == ["skip"]
    assert all("the setup failed" in m for m in messages(report, 0))
    assert results(report, "teardown") == ["pass", "pass"]
    assert [r["path"] for r in stub.requests] == [
        "/Patient/example",
        "/Patient/example",
        "/metadata",
    ]
    assert report["score"] == 0.0


def test_a_failed_assert_ends_its_test_and_the_next_test_runs(
    stub: StubFhirServer, write: Write, run: Run
) -> None:
    resource = scripted(
        tests=[
            [
                op("capabilities"),
                check(responseCode="201"),
                op("capabilities"),
                check(response="okay"),
            ],
            [op("capabilities"), check(response="okay")],
        ],
        teardown=[op("capabilities")],
    )
    report = run(write(resource)).report
    assert results(report, 0) == ["pass", "fail", "skip", "skip"]
    assert "an earlier action failed" in messages(report, 0)[2]
    assert results(report, 1) == ["pass", "pass"]
    assert results(report, "teardown") == ["pass"]
    assert report["result"] == "fail"
    assert report["score"] == 50.0  # one test of two passed (testreport.html: of tests)


def test_a_warning_only_assert_warns_and_execution_goes_on(write: Write) -> None:
    actions = [
        READ,
        check(headerField="Last-Modified", operator="notEmpty", warningOnly=True),
        check(response="okay"),
    ]
    path = write(scripted(tests=[actions]))
    with StubFhirServer(omit_headers={"last-modified"}) as stub:
        stub.put(PATIENT)
        [result] = run_scripts(stub.base_url, [path], None, None)
    report = result.report
    assert results(report, 0) == ["pass", "warning", "pass"]
    assert "header Last-Modified: expected to be present, got nothing" in messages(report, 0)[1]
    assert report["result"] == "pass" and result.passed
    assert report["score"] == 100.0


def test_a_script_that_must_fail_fails(stub: StubFhirServer, write: Write, run: Run) -> None:
    # minimumId that does not hold, and an operator mismatch, on otherwise good responses
    stub.put(PATIENT)
    files = {"bigger.json": dict(PATIENT, gender="female", birthDate="2000-01-01")}
    resource = scripted(
        fixture=[fixture("bigger", "bigger.json")],
        tests=[
            [READ, check(minimumId="bigger")],
            [READ, check(expression="Patient.gender", operator="notEquals", value="male")],
        ],
    )
    result = run(write(resource, files))
    assert not result.passed
    assert results(result.report, 0) == ["pass", "fail"]
    assert "Patient.gender: expected 'female', got 'male'" in messages(result.report, 0)[1]
    assert results(result.report, 1) == ["pass", "fail"]


def test_autocreate_and_autodelete(stub: StubFhirServer, write: Write, run: Run) -> None:
    resource = scripted(
        fixture=[fixture("pat", "patient.json", autocreate=True, autodelete=True)],
        tests=[[op("read", targetId="pat"), check(response="okay"), check(minimumId="pat")]],
        teardown=[op("capabilities")],
    )
    report = run(write(resource, {"patient.json": PATIENT})).report
    assert results(report, "setup") == ["pass"]
    assert messages(report, "setup")[0].startswith("autocreate fixture 'pat': POST ")
    assert results(report, 0) == ["pass", "pass", "pass"]
    assert results(report, "teardown") == ["pass", "pass"]
    assert "autodelete fixture 'pat': DELETE" in messages(report, "teardown")[1]
    assert [(r["method"], r["path"]) for r in stub.requests] == [
        ("POST", "/Patient"),
        ("GET", "/Patient/s1"),
        ("GET", "/metadata"),
        ("DELETE", "/Patient/s1"),
    ]
    assert stub.current("Patient", "s1") is None


def test_an_autocreate_that_fails_skips_the_setup(
    stub: StubFhirServer, write: Write, run: Run
) -> None:
    resource = scripted(
        fixture=[fixture("gone", "missing.json", autocreate=True)],
        setup=[op("capabilities")],
        tests=[[op("capabilities")]],
    )
    report = run(write(resource)).report
    assert results(report, "setup") == ["error", "skip"]
    assert "fixture file not found" in messages(report, "setup")[0]
    assert results(report, 0) == ["skip"]
    assert stub.requests == []


def test_fixture_sources(stub: StubFhirServer, write: Write, run: Run, tmp_path: Path) -> None:
    stub.put(dict(PATIENT, id="on-server", gender="other"))
    xml = serialize(dict(PATIENT, id="from-xml"), "application/fhir+xml")
    contained = dict(PATIENT, id="inline", gender="unknown")
    resource = scripted(
        contained=[contained],
        fixture=[
            fixture("xml", "fixtures/p.xml"),
            fixture("inline", "#inline"),
            fixture("server", "Patient/on-server"),
            fixture("rooted", "/shared/p.json"),  # from an ancestor folder (Touchstone style)
        ],
        tests=[
            [
                check(sourceId="xml", expression="Patient.id", value="from-xml"),
                check(sourceId="inline", expression="Patient.gender", value="unknown"),
                check(sourceId="server", expression="Patient.gender", value="other"),
                check(sourceId="rooted", path="fhir:Patient/fhir:id/@value", value="example"),
            ]
        ],
    )
    (tmp_path.parent / "shared").mkdir(exist_ok=True)
    (tmp_path.parent / "shared" / "p.json").write_bytes(orjson.dumps(PATIENT))
    report = run(write(resource, {"fixtures/p.xml": xml})).report
    assert results(report, 0) == ["pass"] * 4, messages(report, 0)
    assert [r["path"] for r in stub.requests] == ["/Patient/on-server"]


def test_auth_is_sent_on_every_request(stub: StubFhirServer, write: Write, run: Run) -> None:
    resource = scripted(
        fixture=[
            fixture("pat", "p.json", autocreate=True, autodelete=True),
            fixture("srv", "Patient/x"),
        ],
        tests=[
            [
                op("capabilities"),
                check(direction="request", headerField="Authorization", value="Bearer T0K"),
            ]
        ],
    )
    stub.put(dict(PATIENT, id="x"))
    report = run(write(resource, {"p.json": PATIENT}), auth="Bearer T0K").report
    assert results(report, 0) == ["pass", "pass"]
    assert len(stub.requests) == 4
    assert all(r["headers"].get("authorization") == "Bearer T0K" for r in stub.requests)


def test_a_request_header_overrides_the_auth(stub: StubFhirServer, write: Write, run: Run) -> None:
    header = [{"field": "Authorization", "value": "Bearer other"}]
    resource = scripted(tests=[[op("capabilities", requestHeader=header)]])
    run(write(resource), auth="Bearer T0K")
    assert stub.requests[0]["headers"]["authorization"] == "Bearer other"


def test_autodelete_never_deletes_what_the_run_did_not_create(
    stub: StubFhirServer, write: Write, run: Run
) -> None:
    """A fixture file names `Patient/example`; someone's Patient is there already. The
    setup fails before the script's own create, so the run placed nothing to delete."""
    stub.put(dict(PATIENT, gender="other"))
    resource = scripted(
        fixture=[fixture("pat", "patient.json", autodelete=True)],
        setup=[op("read", resource="Patient", params="/nobody"), check(response="okay")],
        tests=[[op("create", sourceId="pat")]],
    )
    report = run(write(resource, {"patient.json": PATIENT})).report
    assert results(report, "teardown") == ["skip"]
    assert "this run created nothing" in messages(report, "teardown")[0]
    assert not any(r["method"] == "DELETE" for r in stub.requests)
    assert stub.current("Patient", "example") is not None


def test_autodelete_removes_every_copy_the_run_created(
    stub: StubFhirServer, write: Write, run: Run
) -> None:
    """autocreate made one, an explicit create of the same fixture another: both go."""
    resource = scripted(
        fixture=[fixture("pat", "patient.json", autocreate=True, autodelete=True)],
        setup=[op("create", sourceId="pat")],
    )
    report = run(write(resource, {"patient.json": PATIENT})).report
    assert results(report, "teardown") == ["pass", "pass"]
    deleted = [r["path"] for r in stub.requests if r["method"] == "DELETE"]
    assert deleted == ["/Patient/s1", "/Patient/s2"]
    assert stub.current("Patient", "s1") is None and stub.current("Patient", "s2") is None


def test_a_malformed_action_errors_alone(stub: StubFhirServer, write: Write, run: Run) -> None:
    """An operation of the wrong shape (requestHeader as strings) errors; the tests before
    and after keep their results, the teardown and autodelete run."""
    resource = scripted(
        fixture=[fixture("pat", "patient.json", autocreate=True, autodelete=True)],
        tests=[
            [op("capabilities"), check(response="okay")],
            [op("capabilities", requestHeader=["X-A: b"]), check(response="okay")],
            ["not an action"],
            [op("capabilities"), check(response="okay")],
        ],
        teardown=[op("capabilities")],
    )
    report = run(write(resource, {"patient.json": PATIENT})).report
    assert report["status"] == "completed" and report["result"] == "fail"
    assert results(report, 0) == ["pass", "pass"]
    assert results(report, 1) == ["error", "skip"]
    assert "could not run this operation: AttributeError" in messages(report, 1)[0]
    assert results(report, 2) == ["error"]
    assert results(report, 3) == ["pass", "pass"]
    assert results(report, "teardown") == ["pass", "pass"]  # the capabilities, the delete
    assert report["score"] == 50.0
    assert stub.current("Patient", "s1") is None


def test_encoded_urls_keep_a_plus_a_plus(stub: StubFhirServer, write: Write, run: Run) -> None:
    params = "?birthdate=gt1969-12-31T00:00:00+01:00"
    resource = scripted(tests=[[op("search", resource="Patient", params=params)]])
    run(write(resource))
    assert stub.requests[-1]["path"] == "/Patient?birthdate=gt1969-12-31T00:00:00%2B01:00"


def test_content_type_none_sends_no_content_type(
    stub: StubFhirServer, write: Write, run: Run
) -> None:
    resource = scripted(
        fixture=[fixture("pat", "patient.json")],
        tests=[
            [
                op("create", sourceId="pat", contentType="none"),
                check(direction="request", headerField="Content-Type", operator="empty"),
            ]
        ],
    )
    report = run(write(resource, {"patient.json": PATIENT})).report
    assert results(report, 0)[1] == "pass", messages(report, 0)
    assert "content-type" not in stub.requests[-1]["headers"]


def test_autodelete_leaves_a_resource_the_run_only_updated(
    stub: StubFhirServer, write: Write, run: Run
) -> None:
    """An update (200) of what was already on the server did not create it."""
    stub.put(dict(PATIENT, gender="other"))
    resource = scripted(
        fixture=[fixture("pat", "patient.json", autodelete=True)],
        tests=[[op("update", sourceId="pat", resource="Patient", params="/example")]],
    )
    report = run(write(resource, {"patient.json": PATIENT})).report
    assert results(report, 0) == ["pass"]
    assert "PUT" in messages(report, 0)[0] and "200" in messages(report, 0)[0]
    assert results(report, "teardown") == ["skip"]
    assert not any(r["method"] == "DELETE" for r in stub.requests)
    assert stub.current("Patient", "example") is not None
