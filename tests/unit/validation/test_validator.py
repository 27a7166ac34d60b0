"""The strict R4 structural validator: real resources in, OperationOutcome issues out."""

from __future__ import annotations

import copy
import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

from fhir_server.errors import Issue
from fhir_server.validation import MAX_ISSUES, load_structure, validate_resource
from fhir_server.validation.structure import COMPLEX

ROOT = Path(__file__).resolve().parents[3]


def patient(**changes: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": "example-1",
        "meta": {"versionId": "2", "lastUpdated": "2024-03-01T10:15:00.123+01:00"},
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml">Ada Lovelace</div>',
        },
        "extension": [
            {
                "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
                "extension": [
                    {"url": "text", "valueString": "White"},
                    {
                        "url": "ombCategory",
                        "valueCoding": {
                            "system": "urn:oid:2.16.840.1.113883.6.238",
                            "code": "2106-3",
                        },
                    },
                ],
            }
        ],
        "identifier": [{"system": "http://hospital.example.org/mrn", "value": "12345"}],
        "active": True,
        "name": [{"use": "official", "family": "Lovelace", "given": ["Ada", "Augusta"]}],
        "telecom": [{"system": "phone", "value": "555-0100", "use": "home", "rank": 1}],
        "gender": "female",
        "birthDate": "1815-12-10",
        "deceasedDateTime": "1852-11-27T00:00:00Z",
        "address": [{"line": ["12 St James's Square"], "city": "London", "country": "GB"}],
        "multipleBirthInteger": 1,
        "contact": [{"relationship": [{"text": "mother"}], "name": {"family": "Byron"}}],
        "managingOrganization": {"reference": "Organization/org-1"},
    }
    resource.update(changes)
    return resource


def only(issues: list[Issue]) -> Issue:
    assert len(issues) == 1, issues
    return issues[0]


def test_a_valid_patient_passes() -> None:
    assert validate_resource(patient()) == []


def test_the_input_is_not_mutated() -> None:
    resource = patient(active="yes")
    before = copy.deepcopy(resource)
    validate_resource(resource)
    assert resource == before


def test_a_string_for_a_boolean_fails_naming_the_element() -> None:
    issue = only(validate_resource(patient(active="yes")))
    assert issue.expression == ("Patient.active",)
    assert issue.severity == "error"
    assert "'active'" in issue.diagnostics
    assert "boolean (true or false), got a string" in issue.diagnostics


def test_an_unknown_element_is_reported_with_its_fhirpath() -> None:
    issue = only(validate_resource(patient(name=[{"family": "x"}, {"fmily": "Lovelace"}])))
    assert issue.code == "structure"
    assert issue.expression == ("Patient.name[1].fmily",)
    assert issue.diagnostics == "Unknown element 'fmily' in HumanName"


def test_a_list_where_one_value_is_expected_fails() -> None:
    issue = only(validate_resource(patient(gender=["female"])))
    assert (issue.code, issue.expression) == ("structure", ("Patient.gender",))
    assert "single value, not an array" in issue.diagnostics


def test_a_single_value_where_the_element_repeats_fails() -> None:
    issue = only(validate_resource(patient(name={"family": "Lovelace"})))
    assert issue.expression == ("Patient.name",)
    assert "repeats and must be an array, got an object" in issue.diagnostics


@pytest.mark.parametrize("bad", ["1815/12/10", "1815-13-01", "1815-02-30", "18151210", "0000"])
def test_bad_dates_fail(bad: str) -> None:
    issue = only(validate_resource(patient(birthDate=bad)))
    assert (issue.code, issue.expression) == ("value", ("Patient.birthDate",))
    assert "not a valid date" in issue.diagnostics


def test_a_leap_day_and_partial_dates_are_valid() -> None:
    for good in ("2024-02-29", "1815", "1815-12"):
        assert validate_resource(patient(birthDate=good)) == []


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("2024-03-01T10:15:00", "time zone"),  # dateTime with a time needs a zone
        ("2024-03-01T10:15", "time zone"),
    ],
)
def test_date_times_need_seconds_and_a_zone(value: str, problem: str) -> None:
    issue = only(validate_resource(patient(deceasedDateTime=value)))
    assert problem in issue.diagnostics


def test_empty_strings_arrays_and_objects_fail() -> None:
    issues = validate_resource(patient(name=[{"family": ""}], telecom=[], managingOrganization={}))
    by_path = {i.expression: i.diagnostics for i in issues}
    assert len(issues) == 3
    assert "empty strings are not allowed" in by_path[("Patient.name[0].family",)]
    assert "Empty array for 'telecom'" in by_path[("Patient.telecom",)]
    assert "Empty object for 'managingOrganization'" in by_path[("Patient.managingOrganization",)]


def test_codes_have_no_surrounding_whitespace() -> None:
    issue = only(validate_resource(patient(gender="female ")))
    assert "not a valid code" in issue.diagnostics


def test_a_code_outside_its_required_value_set_fails() -> None:
    issue = only(validate_resource(patient(gender="F")))
    assert issue.code == "code-invalid"
    assert "administrative-gender" in issue.diagnostics
    assert "female, male, other, unknown" in issue.diagnostics


def test_primitive_extension_siblings_are_validated() -> None:
    ext = {"extension": [{"url": "http://example.org/precision", "valueCode": "day"}]}
    assert validate_resource(patient(_birthDate=ext)) == []
    # extensions only, no value: still a present element
    given = {"given": ["Ada", None], "_given": [None, ext]}
    assert validate_resource(patient(name=[given])) == []
    issue = only(
        validate_resource(patient(_birthDate={"extension": [{"url": 1, "valueString": "x"}]}))
    )
    assert issue.expression == ("Patient.birthDate.extension[0].url",)


def test_misaligned_primitive_arrays_fail() -> None:
    ext = {"extension": [{"url": "http://example.org/x", "valueBoolean": True}]}
    short = only(validate_resource(patient(name=[{"given": ["Ada", "A"], "_given": [ext]}])))
    assert short.expression == ("Patient.name[0].given",)
    assert "as many items" in short.diagnostics
    both_null = {"given": ["Ada", None], "_given": [ext, None]}
    issue = only(validate_resource(patient(name=[both_null])))
    assert issue.expression == ("Patient.name[0].given[1]",)
    assert only(validate_resource(patient(name=[{"given": [None]}]))).code == "structure"
    assert (
        "Empty array for '_given'"
        in only(validate_resource(patient(name=[{"given": ["Ada"], "_given": []}]))).diagnostics
    )


def test_an_extension_sibling_of_a_complex_element_is_unknown() -> None:
    issue = only(validate_resource(patient(_name=[{"id": "x"}])))
    assert issue.diagnostics == "Unknown element '_name' in Patient"


def test_errors_in_contained_resources_are_located() -> None:
    org = {"resourceType": "Organization", "id": "org-1", "name": "Clinic", "active": "no"}
    issue = only(validate_resource(patient(contained=[org])))
    assert issue.expression == ("Patient.contained[0].active",)
    missing = only(validate_resource(patient(contained=[{"id": "x"}])))
    assert missing.expression == ("Patient.contained[0]",)
    assert "resourceType" in missing.diagnostics
    unknown = only(validate_resource(patient(contained=[{"resourceType": "Spaceship"}])))
    assert "Unknown R4 resourceType 'Spaceship'" in unknown.diagnostics


def test_resources_inside_bundles_and_parameters_are_validated() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:1", "resource": patient()},
            {"resource": {"resourceType": "Patient", "active": 1}},
            {"response": {"status": "200", "outcome": patient()}},
        ],
    }
    issues = validate_resource(bundle)
    assert [i.expression for i in issues] == [
        ("Bundle.entry[1].resource.active",),
        ("Bundle.entry[2].response.outcome",),
    ]
    assert "Expected a OperationOutcome resource" in issues[1].diagnostics
    params = {
        "resourceType": "Parameters",
        "parameter": [{"name": "p", "resource": patient(gender="x")}],
    }
    assert only(validate_resource(params)).expression == (
        "Parameters.parameter[0].resource.gender",
    )


def test_an_r4_only_resource_type_validates() -> None:
    ref = {"reference": "Group/g1"}
    synthesis = {
        "resourceType": "EffectEvidenceSynthesis",
        "status": "active",
        "population": ref,
        "exposure": {"reference": "EvidenceVariable/e1"},
        "exposureAlternative": {"reference": "EvidenceVariable/e2"},
        "outcome": {"reference": "EvidenceVariable/o1"},
        "effectEstimate": [{"value": 0.75, "variantState": {"text": "all"}}],
    }
    assert validate_resource(synthesis) == []
    del synthesis["status"]
    assert only(validate_resource(synthesis)).expression == ("EffectEvidenceSynthesis.status",)


def test_missing_required_elements_are_reported() -> None:
    issues = validate_resource({"resourceType": "Observation", "id": "o1"})
    assert {(i.code, i.expression) for i in issues} == {
        ("required", ("Observation.code",)),
        ("required", ("Observation.status",)),
    }
    assert "Missing required element 'code' in Observation" in [i.diagnostics for i in issues]


def test_a_required_primitive_may_be_present_through_its_extension_only() -> None:
    absent = {
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                "valueCode": "unknown",
            }
        ]
    }
    obs = {"resourceType": "Observation", "_status": absent, "code": {"text": "x"}}
    assert validate_resource(obs) == []


def test_two_variants_of_a_choice_fail() -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "valueQuantity": {"value": 70.5, "unit": "kg"},
        "valueString": "heavy",
    }
    issue = only(validate_resource(obs))
    assert issue.expression == ("Observation.valueString",)
    assert "'valueQuantity' and 'valueString'" in issue.diagnostics


def test_extensions_need_a_url_and_either_a_value_or_extensions() -> None:
    no_url = only(validate_resource(patient(extension=[{"valueString": "x"}])))
    assert (no_url.code, no_url.expression) == ("required", ("Patient.extension[0].url",))
    both = {
        "url": "http://e.org/x",
        "valueString": "x",
        "extension": [{"url": "a", "valueInteger": 1}],
    }
    assert only(validate_resource(patient(extension=[both]))).code == "invariant"
    neither = {"url": "http://e.org/x", "id": "only-an-id"}
    assert only(validate_resource(patient(extension=[neither]))).code == "invariant"
    two_values = {"url": "http://e.org/x", "valueString": "x", "valueInteger": 1}
    assert only(validate_resource(patient(extension=[two_values]))).code == "structure"


def nested_extension(levels: int) -> dict[str, Any]:
    ext: dict[str, Any] = {"url": "http://example.org/leaf", "valueString": "deep"}
    for _ in range(levels):
        ext = {"url": "http://example.org/node", "extension": [ext]}
    return ext


def test_nesting_deeper_than_the_limit_gives_one_clear_issue() -> None:
    issue = only(validate_resource(patient(extension=[nested_extension(60)])))
    assert issue.code == "too-costly"
    assert "deeper than 32 levels" in issue.diagnostics
    assert issue.expression[0].startswith("Patient.extension[0].extension[0].")
    assert validate_resource(patient(extension=[nested_extension(20)])) == []


def test_deep_nesting_never_exhausts_the_python_stack() -> None:
    # Deeper than the interpreter's recursion limit, and the depth guard lifted.
    assert validate_resource(patient(extension=[nested_extension(2000)]), max_depth=5000) == []


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("2", "got a string"),
        (2.0, "without fraction"),
        (True, "got a boolean"),
        (2**31, "32 bits"),
    ],
)
def test_integers_are_json_numbers_without_fraction(value: object, fragment: str) -> None:
    issue = only(validate_resource(patient(multipleBirthInteger=value)))
    assert issue.expression == ("Patient.multipleBirthInteger",)
    assert fragment in issue.diagnostics


def test_positive_ints_and_decimals() -> None:
    sampled = {"origin": {"value": 0}, "period": 1.5, "dimensions": 0}
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "ecg"}}
    issue = only(validate_resource({**obs, "valueSampledData": sampled}))
    assert issue.expression == ("Observation.valueSampledData.dimensions",)
    assert "at least 1" in issue.diagnostics
    quantity = only(validate_resource({**obs, "valueQuantity": {"value": "70.5"}}))
    assert "JSON number, got a string" in quantity.diagnostics
    assert validate_resource({**obs, "valueQuantity": {"value": 70}}) == []


def test_not_a_resource_at_all() -> None:
    assert only(validate_resource([])).diagnostics.endswith("got an array")
    assert only(validate_resource({"id": "x"})).code == "required"
    assert (
        "Unknown R4 resourceType 'Foo'"
        in only(validate_resource({"resourceType": "Foo"})).diagnostics
    )
    # Abstract and backbone types are not resources
    assert validate_resource({"resourceType": "DomainResource"}) != []
    assert validate_resource({"resourceType": "Patient.contact"}) != []


def test_issues_are_capped() -> None:
    resource: dict[str, Any] = {"resourceType": "Patient", **{f"bad{i}": 1 for i in range(200)}}
    issues = validate_resource(resource)
    assert len(issues) == MAX_ISSUES + 1
    assert issues[-1].severity == "information"
    assert all(i.code == "structure" for i in issues[:MAX_ISSUES])


def test_the_table_covers_r4() -> None:
    structure = load_structure()
    assert len(structure.resource_types) == 147
    for r4_only in ("EffectEvidenceSynthesis", "MedicinalProduct", "SubstancePolymer"):
        assert r4_only in structure.resource_types
    item = structure.types["Questionnaire.item"].elements["item"]
    assert (item.type, item.is_array) == ("Questionnaire.item", True)
    deceased = structure.types["Patient"].elements["deceasedBoolean"]
    assert (deceased.choice, deceased.is_modifier, deceased.is_summary) == ("deceased", True, True)
    assert structure.types["Patient"].elements["id"].type == "id"
    complex_types = {
        el.type
        for type_def in structure.types.values()
        for el in type_def.elements.values()
        if el.kind == COMPLEX
    }
    assert complex_types <= set(structure.types)


def test_the_committed_table_matches_the_generator() -> None:
    shared = os.environ.get("FHIR_SHARED_DIR")
    if not shared:
        pytest.skip("set FHIR_SHARED_DIR to the fhir-r4 definitions folder to check the table")
    spec = importlib.util.spec_from_file_location(
        "generate_r4_structure", ROOT / "scripts" / "generate_r4_structure.py"
    )
    assert spec is not None
    assert spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    name, expected = generator.output_bytes(generator.build(Path(shared)))
    committed = (ROOT / "fhir_server" / "data" / name).read_bytes()
    assert committed == expected, "r4_structure data is stale: run scripts/generate_r4_structure.py"
