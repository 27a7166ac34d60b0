"""The capability coverage rule (conformance/capability.py): claims vs. observed requests."""

from __future__ import annotations

from typing import Any

from conformance.capability import Recorder, claims_from, coverage
from conformance.content import Content
from conformance.transport import Exchange

BASE = "http://127.0.0.1:9/fhir/demo"

STATEMENT: dict[str, Any] = {
    "resourceType": "CapabilityStatement",
    "format": ["application/fhir+json", "json", "application/fhir+xml", "xml"],
    "rest": [
        {
            "mode": "server",
            "interaction": [{"code": "history-system"}, {"code": "batch"}],
            "operation": [{"name": "validate", "definition": "http://x"}],
            "resource": [
                {
                    "type": "Patient",
                    "interaction": [{"code": "read"}, {"code": "search-type"}, {"code": "update"}],
                    "conditionalUpdate": True,
                    "searchInclude": ["Patient:organization"],
                    "searchParam": [
                        {"name": "family", "type": "string"},
                        {"name": "organization", "type": "reference"},
                        {"name": "birthdate", "type": "date"},
                    ],
                },
                {
                    "type": "Observation",
                    "interaction": [{"code": "read"}],
                    "searchParam": [{"name": "code", "type": "token"}],
                },
            ],
        }
    ],
}


def _exchange(method: str, url: str, status: int = 200, **extra: Any) -> Exchange:
    headers = {k.lower(): v for k, v in extra.pop("headers", {}).items()}
    return Exchange(method, url, headers, status=status, **extra)


def _recorded(*exchanges: Exchange) -> Recorder:
    recorder = Recorder(BASE)
    for exchange in exchanges:
        recorder.record(exchange)
    return recorder


def test_claims_are_read_from_the_statement() -> None:
    claims = claims_from(STATEMENT)
    assert claims.interactions == {"history-system", "batch", "read", "search-type", "update"}
    assert claims.operations == {"validate"}
    assert claims.formats == {"json", "xml"}
    assert claims.conditional == {"update"}
    assert claims.includes == {"_include"}
    assert claims.param_type("Patient", "family") == "string"
    assert claims.param_type(None, "code") == "token"


def test_requests_are_classified_with_the_server_url_grammar() -> None:
    seen = _recorded(
        _exchange("GET", f"{BASE}/Patient/p1"),
        _exchange("GET", f"{BASE}/Patient?family:exact=X&birthdate=lt2000&_include=Patient:org"),
        _exchange("GET", f"{BASE}/Patient?organization.name=Acme"),
        _exchange("PUT", f"{BASE}/Patient?identifier=a|b"),
        _exchange("GET", f"{BASE}/Observation/o1", headers={"Accept": "application/fhir+xml"}),
        _exchange(
            "POST", BASE, request_content=Content({"resourceType": "Bundle", "type": "batch"})
        ),
        _exchange("POST", f"{BASE}/Patient/$validate"),
        _exchange("GET", "http://elsewhere.example/fhir/demo/Patient/p1"),  # another server
        _exchange("GET", f"{BASE}/Patient/p2", status=None),  # never answered
    )
    assert seen.interactions == {"read", "search-type", "update", "batch", "operation"}
    assert seen.operations == {"validate"}
    assert seen.conditional == {"update"}
    assert seen.formats == {"json", "xml"}
    assert {("Patient", "family"), ("Patient", "birthdate"), ("Patient", "organization")} <= (
        seen.searched
    )
    assert {":exact", "prefix lt", "_include", "chain"} <= seen.features


def test_post_search_reads_the_form_body() -> None:
    seen = _recorded(
        _exchange("POST", f"{BASE}/Patient/_search", request_body=b"family=Chalmers&_count=5")
    )
    assert ("Patient", "family") in seen.searched
    assert "_count" in seen.features


def test_gaps_name_what_is_claimed_but_not_exercised() -> None:
    seen = _recorded(
        _exchange("GET", f"{BASE}/Patient/p1"),
        _exchange("GET", f"{BASE}/Patient?family=X"),
    )
    result = coverage(claims_from(STATEMENT), seen)
    assert result.gaps == [
        "interaction batch",
        "interaction history-system",
        "interaction update",
        "operation $validate",
        "format xml",
        "conditional update",
        "search feature _include",
        "search parameter type date",
        "search parameter type reference",
        "search parameter type token",
    ]
    assert result.unsearched == {
        "date": ["birthdate"],
        "reference": ["organization"],
        "token": ["code"],
    }
    assert "10 gap(s)" in result.text()


def test_a_suite_that_exercises_every_claim_has_no_gap() -> None:
    seen = _recorded(
        _exchange("GET", f"{BASE}/Patient/p1"),
        _exchange("GET", f"{BASE}/Patient?family=X&birthdate=2000&organization=Organization/o"),
        _exchange("GET", f"{BASE}/Patient?_id=p1&_include=Patient:organization"),
        _exchange("GET", f"{BASE}/Observation?code=abc", headers={"Accept": "application/xml"}),
        _exchange("PUT", f"{BASE}/Patient?family=X"),
        _exchange("GET", f"{BASE}/_history"),
        _exchange(
            "POST", BASE, request_content=Content({"resourceType": "Bundle", "type": "batch"})
        ),
        _exchange("POST", f"{BASE}/$validate"),
    )
    result = coverage(claims_from(STATEMENT), seen)
    assert result.gaps == []
    assert "0 gap(s)" in result.text()
