"""The FHIRPath subset parser and the walkers compiled from it (fhirpath.html)."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.search.expression import (
    Branch,
    ExistsNotEqual,
    Field,
    Index,
    OfType,
    Unsupported,
    WhereEquals,
    WhereResolveIs,
    parse,
    parse_exists_not_equal,
    split_union,
)
from fhir_server.search.walker import BooleanWalker, Walker, compile_branch, reference_type


class TestParse:
    def test_dotted_path(self) -> None:
        assert parse("Patient.name.family") == [
            Branch((Field("Patient"), Field("name"), Field("family")))
        ]

    def test_union_and_parentheses_distribute(self) -> None:
        assert parse("(A.b | A.c).d") == [
            Branch((Field("A"), Field("b"), Field("d"))),
            Branch((Field("A"), Field("c"), Field("d"))),
        ]

    def test_type_filters(self) -> None:
        expected = [Branch((Field("O"), Field("value"), OfType("Quantity")))]
        assert parse("O.value.ofType(Quantity)") == expected
        assert parse("O.value.as(Quantity)") == expected
        assert parse("(O.value as Quantity)") == expected

    def test_where_filters_and_index(self) -> None:
        assert parse("P.telecom.where(system='email')") == [
            Branch((Field("P"), Field("telecom"), WhereEquals("system", "email")))
        ]
        assert parse("O.subject.where(resolve() is Patient)") == [
            Branch((Field("O"), Field("subject"), WhereResolveIs("Patient")))
        ]
        assert parse("Bundle.entry[0].resource") == [
            Branch((Field("Bundle"), Field("entry"), Index(0), Field("resource")))
        ]

    def test_percent_resource_root(self) -> None:
        assert parse("%resource.referenceSeq.chromosome") == [
            Branch((Field("referenceSeq"), Field("chromosome")), from_resource=True)
        ]

    @pytest.mark.parametrize(
        "text",
        [
            "Patient.name.first()",
            "Patient.name.where(given.exists())",
            "%context.name",
            "Patient.name[0",
            "Observation.value > 5",
            "iif(true, a, b)",
        ],
    )
    def test_outside_the_subset_is_unsupported(self, text: str) -> None:
        with pytest.raises(Unsupported):
            parse(text)

    def test_exists_not_equal(self) -> None:
        found = parse_exists_not_equal("Patient.deceased.exists() and Patient.deceased != false")
        assert found == ExistsNotEqual(Branch((Field("Patient"), Field("deceased"))), False)
        assert parse_exists_not_equal("A.b.exists() and A.c != false") is None

    def test_split_union_respects_parentheses_and_quotes(self) -> None:
        assert split_union("A.b | (A.c | A.d).e | A.f.where(x='|')") == [
            "A.b",
            "(A.c | A.d).e",
            "A.f.where(x='|')",
        ]


def walkers(text: str, resource_type: str) -> list[Walker]:
    found: list[Walker] = []
    for branch in parse(text):
        compiled = compile_branch(branch, resource_type, resource_type, resource_type)
        assert isinstance(compiled, list)
        found += compiled
    return found


def run(text: str, resource: dict[str, Any]) -> list[tuple[str, Any]]:
    rt = resource["resourceType"]
    return [(w.type, v) for w in walkers(text, rt) for v in w.run(resource, resource)]


OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "subject": {"reference": "Patient/1"},
    "performer": [{"reference": "Practitioner/2"}, {"reference": "Patient/1"}],
    "effectivePeriod": {"start": "2020"},
    "valueQuantity": {"value": 5},
    "component": [
        {"code": {"text": "a"}, "valueQuantity": {"value": 1}},
        {"code": {"text": "b"}, "valueString": "x"},
    ],
}


class TestWalkers:
    def test_choice_element_resolves_to_its_json_key_and_type(self) -> None:
        assert run("Observation.effective", OBSERVATION) == [("Period", {"start": "2020"})]
        compiled = walkers("Observation.effective", "Observation")
        assert {w.type for w in compiled} == {"dateTime", "Period", "Timing", "instant"}

    def test_of_type_picks_one_choice_at_compile_time(self) -> None:
        (walker,) = walkers("Observation.component.value.ofType(Quantity)", "Observation")
        assert walker.type == "Quantity"
        assert walker.run(OBSERVATION, OBSERVATION) == [{"value": 1}]

    def test_where_resolve_keeps_references_of_the_type(self) -> None:
        found = run("Observation.performer.where(resolve() is Patient)", OBSERVATION)
        assert found == [("Reference", {"reference": "Patient/1"})]

    def test_where_equals(self) -> None:
        patient = {
            "resourceType": "Patient",
            "telecom": [{"system": "phone", "value": "1"}, {"system": "email", "value": "a@b"}],
        }
        found = run("Patient.telecom.where(system='email')", patient)
        assert found == [("ContactPoint", {"system": "email", "value": "a@b"})]

    def test_common_parameters_apply_to_every_type(self) -> None:
        resource = {"resourceType": "Claim", "meta": {"tag": [{"code": "t"}]}}
        assert run("Resource.meta.tag", resource) == [("Coding", {"code": "t"})]

    def test_branch_of_another_resource_type_compiles_to_nothing(self) -> None:
        assert walkers("Person.name", "Patient") == []

    def test_unknown_element_needs_the_engine(self) -> None:
        with pytest.raises(Unsupported):
            walkers("Patient.nickname", "Patient")

    def test_nested_backbone_and_content_reference(self) -> None:
        (walker,) = walkers("Questionnaire.item.item.code", "Questionnaire")
        assert walker.type == "Coding"
        questionnaire = {"item": [{"item": [{"code": [{"code": "c"}]}]}]}
        assert walker.run(questionnaire, questionnaire) == [{"code": "c"}]

    def test_deceased_boolean_expression(self) -> None:
        special = parse_exists_not_equal("Patient.deceased.exists() and Patient.deceased != false")
        assert special is not None
        walker = compile_branch(special, "Patient", "Patient", "Patient")
        assert isinstance(walker, BooleanWalker)
        for data, expected in [
            ({}, [False]),
            ({"deceasedBoolean": False}, [False]),
            ({"deceasedBoolean": True}, [True]),
            ({"deceasedDateTime": "2020"}, [True]),
        ]:
            assert walker.run(data, data) == expected, data


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"reference": "Patient/1"}, "Patient"),
        ({"reference": "http://x/fhir/Group/g"}, "Group"),
        ({"reference": "urn:uuid:1", "type": "Patient"}, "Patient"),
        ({"reference": "urn:uuid:1"}, None),
        ({"identifier": {"value": "1"}, "type": "Device"}, "Device"),
        ("http://x/fhir/Questionnaire/q|1", "Questionnaire"),
    ],
)
def test_reference_type(value: object, expected: str | None) -> None:
    assert reference_type(value) == expected
