"""_summary and _elements subsets, and the SUBSETTED tag."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fhir_server.summary import SUBSETTED_TAG, mark_subsetted, select_elements, summarize


def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"versionId": "1", "tag": [{"system": "http://example.org/tags", "code": "vip"}]},
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">A</div>'},
        "extension": [{"url": "http://example.org/e", "valueString": "x"}],
        "identifier": [{"value": "12345"}],
        "active": True,
        "name": [{"family": "Lovelace"}],
        "gender": "female",
        "birthDate": "1815-12-10",
        "_birthDate": {"extension": [{"url": "http://example.org/t", "valueTime": "10:00:00"}]},
        "maritalStatus": {"text": "married"},
        "_gender": {"id": "g"},
        "contact": [{"name": {"family": "Byron"}}],
        "deceasedBoolean": False,
    }


def observation() -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "o1",
        "meta": {"versionId": "3"},
        "text": {"status": "generated", "div": "<div>70 kg</div>"},
        "status": "final",
        "category": [{"text": "vital-signs"}],
        "code": {"text": "weight"},
        "subject": {"reference": "Patient/p1"},
        "valueQuantity": {"value": 70, "unit": "kg"},
        "note": [{"text": "after lunch"}],
    }


def test_summary_true_keeps_summary_elements_only() -> None:
    result = summarize(patient(), "true")
    assert set(result) == {
        "resourceType",
        "id",
        "meta",
        "identifier",
        "active",
        "name",
        "gender",
        "_gender",
        "birthDate",
        "_birthDate",
        "deceasedBoolean",
    }


def test_summary_true_keeps_mandatory_elements_even_when_not_summary() -> None:
    appointment = {
        "resourceType": "Appointment",
        "id": "a1",
        "status": "booked",
        "comment": "bring the results",
        "participant": [{"status": "accepted"}],
    }
    assert set(summarize(appointment, "true")) == {"resourceType", "id", "status", "participant"}


def test_summary_text_keeps_text_id_meta_and_mandatory() -> None:
    result = summarize(observation(), "text")
    assert set(result) == {"resourceType", "id", "meta", "text", "status", "code"}


def test_summary_data_removes_only_text() -> None:
    source = observation()
    result = summarize(source, "data")
    del source["text"]
    assert result == source


def test_summary_false_is_a_copy_of_everything() -> None:
    source = patient()
    result = summarize(source, "false")
    assert result == source
    assert result is not source


def test_unknown_summary_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="count"):
        summarize(patient(), "count")


@pytest.mark.parametrize("mode", ["true", "text", "data", "false"])
def test_summarize_does_not_mutate_its_input(mode: str) -> None:
    source = patient()
    before = copy.deepcopy(source)
    summarize(source, mode)
    assert source == before


def test_summary_of_an_unknown_type_keeps_only_the_essentials() -> None:
    assert summarize({"resourceType": "Nope", "id": "1", "x": 1}, "true") == {
        "resourceType": "Nope",
        "id": "1",
    }


def test_elements_selects_top_level_names() -> None:
    result = select_elements(patient(), ["name", " birthDate"])
    assert set(result) == {"resourceType", "id", "meta", "name", "birthDate", "_birthDate"}


def test_elements_accepts_type_qualified_names() -> None:
    assert set(select_elements(patient(), ["Patient.gender"])) == {
        "resourceType",
        "id",
        "meta",
        "gender",
        "_gender",
    }


def test_elements_selects_choice_variants_by_their_base_name() -> None:
    for name in ("value", "value[x]", "valueQuantity"):
        result = select_elements(observation(), [name])
        assert result["valueQuantity"] == {"value": 70, "unit": "kg"}
    assert "deceasedBoolean" in select_elements(patient(), ["deceased"])
    assert "valueQuantity" not in select_elements(observation(), ["valueString"])


def test_elements_always_keeps_mandatory_elements() -> None:
    result = select_elements(observation(), ["note"])
    assert set(result) == {"resourceType", "id", "meta", "status", "code", "note"}


def test_elements_ignores_unknown_names_and_does_not_mutate() -> None:
    source = patient()
    before = copy.deepcopy(source)
    assert set(select_elements(source, ["nonsense"])) == {"resourceType", "id", "meta"}
    assert source == before


def test_mark_subsetted_adds_the_tag_once_without_mutating() -> None:
    source = patient()
    before = copy.deepcopy(source)
    marked = mark_subsetted(source)
    assert source == before
    assert marked["meta"]["tag"] == [
        {"system": "http://example.org/tags", "code": "vip"},
        SUBSETTED_TAG,
    ]
    assert marked["meta"]["versionId"] == "1"
    assert mark_subsetted(marked)["meta"]["tag"] == marked["meta"]["tag"]


def test_mark_subsetted_creates_meta_when_absent() -> None:
    marked = mark_subsetted({"resourceType": "Basic", "id": "b"})
    assert marked["meta"] == {"tag": [SUBSETTED_TAG]}
    marked["meta"]["tag"][0]["code"] = "changed"
    assert SUBSETTED_TAG["code"] == "SUBSETTED"
