"""Operations against a live stub server: URLs, methods, headers, bodies, stored responses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from conformance.runner import ScriptResult
from tests.unit.conformance.conformance_stub import StubFhirServer
from tests.unit.conformance.helpers import PATIENT, check, fixture, messages, op, results, scripted

Write = Callable[..., Path]
Run = Callable[..., ScriptResult]

PATIENT_FIXTURE = {"fixture": [fixture("pat", "fixtures/patient.json")]}
FILES = {"fixtures/patient.json": PATIENT}


def sent(stub: StubFhirServer) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in stub.requests]


def test_crud_operation_types_build_the_rest_urls(
    stub: StubFhirServer, write: Write, run: Run
) -> None:
    actions: list[dict[str, Any]] = [
        op("capabilities"),
        check(resource="CapabilityStatement"),
        op("delete", resource="Patient", params="/example"),
        op("updateCreate", resource="Patient", sourceId="pat"),  # PUT [type]/[fixture id]
        check(response="created"),
        op("update", sourceId="pat", targetId="pat"),
        check(response="okay"),
        op("read", targetId="pat", responseId="read1"),
        check(response="okay", sourceId="read1"),
        op("vread", targetId="read1"),  # version from the stored response's meta
        check(response="okay"),
        op("history", targetId="pat"),
        check(expression="Bundle.type", value="history"),
        op("search", resource="Patient", params="?family=chal"),
        check(expression="Bundle.total", value="1"),
        op("create", resource="Patient", sourceId="pat"),
        check(response="created"),
        op("delete", targetId="pat"),
        check(operator="in", responseCode="200,204"),
        op("read", targetId="pat"),  # still the deleted copy, not the fixture's own id
        check(response="gone"),
    ]
    report = run(write(scripted(tests=[actions], **PATIENT_FIXTURE), FILES)).report
    assert results(report, 0) == ["pass"] * len(actions), messages(report, 0)
    assert sent(stub) == [
        ("GET", "/metadata"),
        ("DELETE", "/Patient/example"),
        ("PUT", "/Patient/example"),
        ("PUT", "/Patient/example"),
        ("GET", "/Patient/example"),
        ("GET", "/Patient/example/_history/2"),
        ("GET", "/Patient/example/_history"),
        ("GET", "/Patient?family=chal"),
        ("POST", "/Patient"),
        # the create gave fixture "pat" a server id, so targetId now addresses that copy
        ("DELETE", "/Patient/s1"),
        ("GET", "/Patient/s1"),
    ]


def test_patch_transaction_and_batch(stub: StubFhirServer, write: Write, run: Run) -> None:
    stub.put(PATIENT)
    json_patch = [{"op": "replace", "path": "/gender", "value": "other"}]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": dict(PATIENT, id="t1"), "request": {"method": "PUT", "url": "Patient/t1"}}
        ],
    }
    files = {"patch.json": json_patch, "tx.json": bundle, "batch.json": dict(bundle, type="batch")}
    fixtures = [
        fixture("patch", "patch.json"),
        fixture("tx", "tx.json"),
        fixture("batch", "batch.json"),
    ]
    actions = [
        op("patch", resource="Patient", params="/example", sourceId="patch"),
        check(response="okay"),
        check(expression="Patient.gender", value="other"),
        op("transaction", sourceId="tx"),
        check(expression="Bundle.type", value="transaction-response"),
        check(expression="Bundle.entry.response.status", value="201"),
        op("batch", sourceId="batch"),
        check(expression="Bundle.type", value="batch-response"),
    ]
    report = run(write(scripted(tests=[actions], fixture=fixtures), files)).report
    assert results(report, 0) == ["pass"] * len(actions), messages(report, 0)
    patch_request = stub.requests[0]
    assert patch_request["method"] == "PATCH"
    assert patch_request["headers"]["content-type"] == "application/json-patch+json"
    assert [r["path"] for r in stub.requests[1:]] == ["/", "/"]


def test_method_url_headers_and_formats(stub: StubFhirServer, write: Write, run: Run) -> None:
    stub.put(PATIENT)
    actions = [
        op("read", method="head", url="Patient/example"),
        op(
            "read",
            url="${base}/Patient/example",
            accept="xml",
            requestHeader=[{"field": "X-Trace", "value": "${trace}"}],
        ),
        check(contentType="xml"),
        check(contentType="application/fhir+xml"),
        check(path="fhir:Patient/fhir:name/fhir:family/@value", value="Chalmers"),
        op(
            "create",
            resource="Patient",
            sourceId="pat",
            contentType="application/fhir+xml",
            accept="none",
        ),
        check(response="created"),
        check(direction="request", contentType="application/fhir+xml"),
        check(direction="request", headerField="X-Trace", operator="empty"),
        {
            "operation": {
                "method": "get",
                "url": "Patient?name=Peter James",
                "encodeRequestUrl": True,
            }
        },
        check(requestURL="Patient?name=Peter%20James"),
        check(requestMethod="get"),
    ]
    variables = [
        {"name": "base", "defaultValue": stub.base_url},
        {"name": "trace", "defaultValue": "abc"},
    ]
    path = write(scripted(tests=[actions], variable=variables, **PATIENT_FIXTURE), FILES)
    report = run(path).report
    assert results(report, 0) == ["pass"] * len(actions), messages(report, 0)
    head, xml_read, create, search = stub.requests
    assert head["method"] == "HEAD"
    assert xml_read["headers"]["accept"] == "application/fhir+xml"
    assert xml_read["headers"]["x-trace"] == "abc"
    assert create["body"].startswith(b"<?xml") and "accept" not in create["headers"]
    assert search["path"] == "/Patient?name=Peter%20James"


def test_response_and_request_ids_become_fixtures(
    stub: StubFhirServer, write: Write, run: Run
) -> None:
    actions = [
        op("create", resource="Patient", sourceId="pat", responseId="created", requestId="sent"),
        op("capabilities"),
        check(sourceId="created", response="created"),
        check(sourceId="created", headerField="Location", operator="contains", value="/Patient/s1"),
        check(sourceId="sent", direction="request", requestMethod="post"),
        check(
            sourceId="sent",
            direction="request",
            expression="Patient.name.first().family",
            value="Chalmers",
        ),
        check(sourceId="created", expression="Patient.id", value="s1"),
        op("read", targetId="created"),
        check(response="okay"),
    ]
    report = run(write(scripted(tests=[actions], **PATIENT_FIXTURE), FILES)).report
    assert results(report, 0) == ["pass"] * len(actions), messages(report, 0)
    assert sent(stub)[-1] == ("GET", "/Patient/s1")


def test_update_aligns_the_body_id_with_the_url(
    stub: StubFhirServer, write: Write, run: Run
) -> None:
    actions = [
        op("update", resource="Patient", params="/renamed", sourceId="pat"),
        check(response="created"),
    ]
    report = run(write(scripted(tests=[actions], **PATIENT_FIXTURE), FILES)).report
    assert results(report, 0) == ["pass", "pass"]
    assert "body id 'example' sent as 'renamed'" in messages(report, 0)[0]
    assert stub.current("Patient", "renamed") is not None


def test_operations_that_cannot_be_sent_are_errors(
    stub: StubFhirServer, write: Write, run: Run
) -> None:
    tests = [
        [{"operation": {"label": "nothing"}}, check(response="okay")],
        [op("read", targetId="nope")],
        [op("vread", targetId="pat")],  # the fixture has no meta.versionId
        [op("read", resource="Patient", params="/${undefined}")],
    ]
    report = run(write(scripted(tests=tests, **PATIENT_FIXTURE), FILES)).report
    assert results(report, 0) == ["error", "skip"]
    assert "no url, params, targetId or resource" in messages(report, 0)[0]
    assert "'nope'" in messages(report, 1)[0]
    assert "no version" in messages(report, 2)[0]
    assert "'undefined' is not defined" in messages(report, 3)[0]
    assert stub.requests == []


def test_an_unreachable_server_is_an_error(write: Write, tmp_path: Path) -> None:
    from conformance.runner import run_scripts

    path = write(scripted(tests=[[op("capabilities"), check(response="okay")]]))
    [result] = run_scripts("http://127.0.0.1:9", [path], None, None, timeout=2)
    assert results(result.report, 0) == ["error", "skip"]
    assert "no response" in messages(result.report, 0)[0]
