"""minimumId and navigationLinks (conformance.minimum)."""

from __future__ import annotations

from conformance.minimum import missing_elements, navigation_problems
from tests.unit.conformance.helpers import PATIENT

MINIMUM = {
    "resourceType": "Patient",
    "id": "fixture-id",  # server-assigned elements are not compared
    "meta": {"versionId": "7"},
    "name": [{"given": ["Jim"]}, {"family": "Chalmers"}],
}


def test_a_subset_in_any_order_is_contained() -> None:
    assert missing_elements(MINIMUM, PATIENT) == []
    assert missing_elements(PATIENT, PATIENT) == []


def test_containment_is_not_symmetric() -> None:
    missing = missing_elements(PATIENT, {"resourceType": "Patient", "name": PATIENT["name"]})
    assert "Patient.active: missing" in missing
    assert "Patient.gender: missing" in missing


def test_each_minimum_item_needs_its_own_match() -> None:
    twice = {"resourceType": "Patient", "name": [{"given": ["Jim"]}, {"given": ["Jim"]}]}
    assert missing_elements(twice, PATIENT) == [
        "Patient.name[1]: no matching item for {'given': ['Jim']}"
    ]


def test_different_values_are_named() -> None:
    wrong = {"resourceType": "Patient", "gender": "female", "name": {"family": "x"}}
    missing = missing_elements(wrong, PATIENT)
    assert "Patient.gender: expected 'female', got 'male'" in missing
    assert "Patient.name: expected an object, got an array" in missing


def test_navigation_links() -> None:
    good = {"resourceType": "Bundle", "link": [{"relation": "self", "url": "http://x/Patient"}]}
    assert navigation_problems(good) == []
    assert navigation_problems({"resourceType": "Bundle"}) == ["no 'self' link"]
    paged = dict(good, total=3, entry=[{"resource": PATIENT, "search": {"mode": "match"}}])
    assert navigation_problems(paged) == ["total is 3 but only 1 matches and no 'next' link"]
    assert navigation_problems(PATIENT) == ["expected a Bundle, got Patient"]
    broken = {"resourceType": "Bundle", "link": [{"relation": "self"}]}
    assert navigation_problems(broken) == ["link[0] lacks a relation or a url", "no 'self' link"]
