"""Which reference parameters point a resource at one target at most (chain walks)."""

from __future__ import annotations

import pytest

from fhir_server.search.cardinality import may_hold_canonical, refers_at_most_once
from fhir_server.search.registry import default_registry


@pytest.mark.parametrize(
    ("resource_type", "code", "once"),
    [
        ("Observation", "encounter", True),  # one branch of a shared expression, 0..1
        ("Observation", "patient", True),  # subject.where(resolve() is Patient)
        ("Encounter", "service-provider", True),
        ("MedicationRequest", "medication", True),  # medication.as(Reference): the choice
        ("Patient", "general-practitioner", False),  # 0..*
        ("DiagnosticReport", "result", False),
        ("Encounter", "participant", False),  # a 0..* backbone on the way
    ],
)
def test_r4_reference_parameters(resource_type: str, code: str, once: bool) -> None:
    definition = default_registry().get(resource_type, code)
    assert definition is not None
    assert refers_at_most_once(definition.expression, resource_type) is once


@pytest.mark.parametrize(
    ("resource_type", "code", "canonical"),
    [
        ("QuestionnaireResponse", "questionnaire", True),
        ("PlanDefinition", "definition", True),  # definition[x]: canonical or uri
        ("CarePlan", "instantiates-canonical", True),
        ("Observation", "subject", False),
        ("Consent", "source-reference", False),  # source[x] holds no canonical
    ],
)
def test_which_parameters_may_hold_canonicals(
    resource_type: str, code: str, canonical: bool
) -> None:
    definition = default_registry().get(resource_type, code)
    assert definition is not None
    assert may_hold_canonical(definition.expression, resource_type) is canonical


@pytest.mark.parametrize(
    "expression",
    [
        None,
        "Observation.subject | Observation.focus",  # two branches for the type
        "Observation.subject.resolve()",  # outside the compiled subset
        "Observation.nosuchelement",
    ],
)
def test_what_cannot_be_shown_single_is_not(expression: str | None) -> None:
    assert refers_at_most_once(expression, "Observation") is False
