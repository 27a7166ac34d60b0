"""The data of the backend parity test (test_backend_parity.py): edge-case resources, the
updates and deletes applied after them, and the searches both backends must answer alike.

The resources are raw JSON texts, sent as written: a value such as 1.50, 1e2 or
0.000100 reaches the server with its own digits, which decide its precision range.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from tests.conftest import TENANT

OWN_BASE = f"http://testserver/fhir/{TENANT}"
"""This server's base for the test tenant: absolute references to it are local ones."""


def _own(text: str) -> str:
    """A resource text whose `{own}` names this server's base."""
    return text.replace("{own}", OWN_BASE)


RESOURCES: list[str] = [
    # Organizations and a practitioner
    r"""{
      "resourceType": "Organization",
      "id": "org-parent",
      "name": "Acme Parent Group",
      "identifier": [{"system": "http://ex.org/org", "value": "P1"}],
      "active": true
    }""",
    r"""{
      "resourceType": "Organization",
      "id": "org-child",
      "name": "Acme Health Clinic",
      "partOf": {"reference": "Organization/org-parent"},
      "identifier": [{"system": "http://ex.org/org", "value": "C1"}],
      "address": [{"city": "Boston", "state": "MA"}]
    }""",
    r"""{
      "resourceType": "Organization",
      "id": "org-noname",
      "identifier": [{"system": "http://ex.org/org", "value": "N1"}]
    }""",
    r"""{
      "resourceType": "Practitioner",
      "id": "pr-edge",
      "name": [{"family": "House", "given": ["Gregory"], "prefix": ["Dr."]}],
      "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1111111111"}],
      "gender": "male"
    }""",
    # Patients: tags, profiles, security labels, partial birth dates, several names
    r"""{
      "resourceType": "Patient",
      "id": "pt-a",
      "meta": {
        "tag": [
          {"system": "http://ex.org/tags", "code": "vip"},
          {"system": "http://ex.org/tags", "code": "test"}
        ],
        "profile": ["http://ex.org/fhir/StructureDefinition/my-patient"],
        "security": [
          {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
        ]
      },
      "active": true,
      "identifier": [
        {
          "system": "http://ex.org/mrn",
          "value": "MRN-001",
          "type": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]
          }
        },
        {
          "system": "http://ex.org/ssn",
          "value": "999-11-2222",
          "type": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "SS"}]
          }
        }
      ],
      "name": [
        {"use": "official", "family": "Smith", "given": ["John", "Jacob"]},
        {"use": "nickname", "given": ["Johnny"]}
      ],
      "telecom": [
        {"system": "phone", "value": "555-0100"},
        {"system": "email", "value": "john@ex.org"}
      ],
      "gender": "male",
      "birthDate": "1980",
      "address": [{"city": "Boston", "state": "MA", "postalCode": "02115"}],
      "managingOrganization": {"reference": "Organization/org-child"},
      "generalPractitioner": [{"reference": "Practitioner/pr-edge"}]
    }""",
    r"""{
      "resourceType": "Patient",
      "id": "pt-b",
      "meta": {"tag": [{"system": "http://ex.org/tags", "code": "test"}]},
      "identifier": [{"system": "http://ex.org/mrn", "value": "MRN-002"}],
      "name": [{"family": "Müller", "given": ["Zoë"]}],
      "gender": "female",
      "birthDate": "1980-05",
      "deceasedDateTime": "2020-03-01T10:00:00Z",
      "managingOrganization": {"reference": "Organization/org-parent"}
    }""",
    r"""{"resourceType": "Patient", "id": "pt-c", "identifier": [{"value": "NOSYS-1"}]}""",
    r"""{
      "resourceType": "Patient",
      "id": "pt-d",
      "name": [{"family": "Smithson", "given": ["Ann"]}, {"family": "SMITH", "given": ["Annie"]}],
      "gender": "female",
      "birthDate": "1980-05-15",
      "active": false,
      "address": [{"city": "Cambridge", "state": "MA"}],
      "generalPractitioner": [
        {"reference": "Practitioner/pr-edge"},
        {"reference": "Organization/org-child"}
      ],
      "link": [{"other": {"reference": "Patient/pt-a"}, "type": "seealso"}]
    }""",
    r"""{
      "resourceType": "Patient",
      "id": "pt-e",
      "name": [{"text": "Mary Jane Watson"}],
      "gender": "unknown",
      "birthDate": "1979-12-31",
      "meta": {
        "security": [
          {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}
        ]
      }
    }""",
    # Observations: 1.50 / 100 / 1e2 written as such, comparators, other units, instants with
    # offsets, no value, absolute and identifier-only subjects, components
    r"""{
      "resourceType": "Observation",
      "id": "ob-150",
      "status": "final",
      "code": {
        "coding": [{"system": "http://loinc.org", "code": "1234-5", "display": "Edge test"}],
        "text": "edge measurement"
      },
      "subject": {"reference": "Patient/pt-a"},
      "effectiveDateTime": "2020-01-15",
      "valueQuantity": {
        "value": 1.50,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg"
      },
      "meta": {"tag": [{"system": "http://ex.org/tags", "code": "vip"}]}
    }""",
    r"""{
      "resourceType": "Observation",
      "id": "ob-100",
      "status": "final",
      "code": {
        "coding": [{"system": "http://loinc.org", "code": "1234-5", "display": "Edge test"}],
        "text": "edge measurement"
      },
      "subject": {"reference": "Patient/pt-a"},
      "effectivePeriod": {"start": "2020-01-01", "end": "2020-02-01"},
      "valueQuantity": {
        "value": 100,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg"
      }
    }""",
    r"""{
      "resourceType": "Observation",
      "id": "ob-1e2",
      "status": "final",
      "code": {
        "coding": [{"system": "http://loinc.org", "code": "1234-5", "display": "Edge test"}],
        "text": "edge measurement"
      },
      "subject": {"reference": "Patient/pt-b"},
      "effectiveDateTime": "2020-06",
      "valueQuantity": {
        "value": 1e2,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg"
      }
    }""",
    r"""{
      "resourceType": "Observation",
      "id": "ob-lt5",
      "status": "final",
      "code": {
        "coding": [{"system": "http://loinc.org", "code": "1234-5", "display": "Edge test"}],
        "text": "edge measurement"
      },
      "subject": {"reference": "Patient/pt-b"},
      "effectiveDateTime": "2021",
      "valueQuantity": {
        "value": 5,
        "comparator": "<",
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg"
      }
    }""",
    r"""{
      "resourceType": "Observation",
      "id": "ob-ge10",
      "status": "final",
      "code": {
        "coding": [{"system": "http://loinc.org", "code": "1234-5", "display": "Edge test"}],
        "text": "edge measurement"
      },
      "subject": {"reference": "Patient/pt-d"},
      "effectiveDateTime": "2021-03-04T10:00:00+02:00",
      "valueQuantity": {
        "value": 10,
        "comparator": ">=",
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg"
      }
    }""",
    r"""{
      "resourceType": "Observation",
      "id": "ob-gram",
      "status": "final",
      "code": {
        "coding": [{"system": "http://loinc.org", "code": "1234-5", "display": "Edge test"}],
        "text": "edge measurement"
      },
      "subject": {"reference": "Patient/pt-d"},
      "effectiveDateTime": "2019-12-31T23:30:00-05:00",
      "valueQuantity": {
        "value": 0.1,
        "unit": "g",
        "system": "http://unitsofmeasure.org",
        "code": "g"
      }
    }""",
    r"""{
      "resourceType": "Observation",
      "id": "ob-noval",
      "status": "final",
      "code": {
        "coding": [{"system": "http://loinc.org", "code": "1234-5", "display": "Edge test"}],
        "text": "edge measurement"
      },
      "subject": {"reference": "Patient/pt-c"},
      "effectiveDateTime": "2021",
      "dataAbsentReason": {
        "coding": [
          {"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "unknown"}
        ]
      }
    }""",
    r"""{
      "resourceType": "Observation",
      "id": "ob-str",
      "status": "final",
      "code": {
        "coding": [{"system": "http://loinc.org", "code": "9999-9", "display": "Edge test"}],
        "text": "edge measurement"
      },
      "subject": {"reference": "Patient/pt-e"},
      "valueString": "hello world",
      "category": [
        {
          "coding": [
            {
              "system": "http://terminology.hl7.org/CodeSystem/observation-category",
              "code": "laboratory"
            }
          ]
        },
        {"coding": [{"system": "http://ex.org/cat", "code": "extra"}]}
      ]
    }""",
    r"""{
      "resourceType": "Observation",
      "id": "ob-inst",
      "status": "final",
      "code": {
        "coding": [{"system": "http://loinc.org", "code": "1234-5", "display": "Edge test"}],
        "text": "edge measurement"
      },
      "subject": {"reference": "Patient/pt-a"},
      "effectiveInstant": "2020-01-15T23:30:00+05:00",
      "valueQuantity": {
        "value": 0.6,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg"
      }
    }""",
    r"""{
      "resourceType": "Observation",
      "id": "ob-cc",
      "status": "final",
      "code": {
        "coding": [{"system": "http://loinc.org", "code": "5555-5", "display": "Edge test"}],
        "text": "edge measurement"
      },
      "subject": {"reference": "Patient/pt-a"},
      "effectiveDateTime": "2020-01-15T12:00:00Z",
      "valueCodeableConcept": {
        "coding": [
          {"system": "http://snomed.info/sct", "code": "260385009", "display": "Negative"}
        ],
        "text": "Negative result"
      }
    }""",
    r"""{
      "resourceType": "Observation",
      "id": "ob-abs",
      "status": "final",
      "code": {
        "coding": [{"system": "http://loinc.org", "code": "1234-5", "display": "Edge test"}],
        "text": "edge measurement"
      },
      "subject": {"reference": "http://other.org/fhir/Patient/pt-a"},
      "effectiveDateTime": "2020-02",
      "valueQuantity": {
        "value": -3.25,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg"
      }
    }""",
    r"""{
      "resourceType": "Observation",
      "id": "ob-idref",
      "status": "preliminary",
      "code": {"coding": [{"system": "http://loinc.org", "code": "1234-5"}]},
      "subject": {"identifier": {"system": "http://ex.org/mrn", "value": "MRN-001"}},
      "valueQuantity": {
        "value": 7,
        "unit": "mmol/L",
        "system": "http://unitsofmeasure.org",
        "code": "mmol/L"
      }
    }""",
    r"""{
      "resourceType": "Observation",
      "id": "ob-bp",
      "status": "final",
      "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
      "subject": {"reference": "Patient/pt-a"},
      "effectiveDateTime": "2020-05-05",
      "component": [
        {
          "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
          "valueQuantity": {
            "value": 120,
            "unit": "mm[Hg]",
            "system": "http://unitsofmeasure.org",
            "code": "mm[Hg]"
          }
        },
        {
          "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
          "valueQuantity": {
            "value": 80,
            "unit": "mm[Hg]",
            "system": "http://unitsofmeasure.org",
            "code": "mm[Hg]"
          }
        }
      ]
    }""",
    r"""{
      "resourceType": "Observation",
      "id": "ob-enc",
      "status": "final",
      "code": {
        "coding": [{"system": "http://loinc.org", "code": "1234-5", "display": "Edge test"}],
        "text": "edge measurement"
      },
      "subject": {"reference": "Patient/pt-a"},
      "encounter": {"reference": "Encounter/enc-a"},
      "effectiveDateTime": "2020-01-01T08:00:00Z",
      "valueQuantity": {
        "value": 100.0,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg"
      },
      "performer": [{"reference": "Practitioner/pr-edge"}, {"reference": "Organization/org-child"}]
    }""",
    # Encounters
    r"""{
      "resourceType": "Encounter",
      "id": "enc-a",
      "status": "finished",
      "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
      "subject": {"reference": "Patient/pt-a"},
      "period": {"start": "2020-01-01T08:00:00Z"},
      "serviceProvider": {"reference": "Organization/org-child"},
      "length": {"value": 30, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"},
      "participant": [{"individual": {"reference": "Practitioner/pr-edge"}}]
    }""",
    r"""{
      "resourceType": "Encounter",
      "id": "enc-b",
      "status": "in-progress",
      "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
      "subject": {"reference": "Patient/pt-b"},
      "period": {"start": "2019-12-31T23:00:00Z", "end": "2020-01-02"},
      "serviceProvider": {"reference": "Organization/org-parent"},
      "length": {"value": 0.5, "unit": "h", "system": "http://unitsofmeasure.org", "code": "h"}
    }""",
    r"""{
      "resourceType": "Encounter",
      "id": "enc-c",
      "status": "planned",
      "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
      "subject": {"reference": "Patient/pt-d"},
      "partOf": {"reference": "Encounter/enc-a"}
    }""",
    # Conditions: onset as dateTime, Age, Period
    r"""{
      "resourceType": "Condition",
      "id": "cond-a",
      "clinicalStatus": {
        "coding": [
          {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
        ]
      },
      "code": {
        "coding": [{"system": "http://snomed.info/sct", "code": "44054006", "display": "Diabetes"}],
        "text": "Type 2 diabetes"
      },
      "subject": {"reference": "Patient/pt-a"},
      "onsetDateTime": "2019",
      "encounter": {"reference": "Encounter/enc-a"}
    }""",
    r"""{
      "resourceType": "Condition",
      "id": "cond-b",
      "code": {
        "coding": [
          {"system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertension"}
        ]
      },
      "subject": {"reference": "Patient/pt-b"},
      "onsetAge": {"value": 45, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"},
      "abatementString": "resolved in spring"
    }""",
    r"""{
      "resourceType": "Condition",
      "id": "cond-c",
      "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
      "subject": {"reference": "Patient/pt-d"},
      "onsetPeriod": {"start": "2018-06", "end": "2019-02-10"},
      "recordedDate": "2019-02-11T09:00:00Z"
    }""",
    # RiskAssessment: the number parameter `probability` over decimals and a Range
    r"""{
      "resourceType": "RiskAssessment",
      "id": "ra-dec",
      "status": "final",
      "subject": {"reference": "Patient/pt-a"},
      "prediction": [{"probabilityDecimal": 0.25}]
    }""",
    r"""{
      "resourceType": "RiskAssessment",
      "id": "ra-range",
      "status": "final",
      "subject": {"reference": "Patient/pt-b"},
      "prediction": [{"probabilityRange": {"low": {"value": 0.1}, "high": {"value": 0.3}}}]
    }""",
    r"""{
      "resourceType": "RiskAssessment",
      "id": "ra-150",
      "status": "final",
      "subject": {"reference": "Patient/pt-d"},
      "prediction": [{"probabilityDecimal": 1.50}, {"probabilityDecimal": 100}]
    }""",
    r"""{
      "resourceType": "RiskAssessment",
      "id": "ra-1e2",
      "status": "final",
      "subject": {"reference": "Patient/pt-e"},
      "prediction": [{"probabilityDecimal": 1e2}]
    }""",
    # Questionnaires (canonical url|version) and their responses
    r"""{
      "resourceType": "Questionnaire",
      "id": "q-v1",
      "url": "http://ex.org/Q/1",
      "version": "1.0",
      "status": "active",
      "name": "QOne",
      "title": "First questionnaire"
    }""",
    r"""{
      "resourceType": "Questionnaire",
      "id": "q-v2",
      "url": "http://ex.org/Q/1",
      "version": "2.0",
      "status": "active",
      "name": "QOne",
      "title": "First questionnaire v2"
    }""",
    r"""{
      "resourceType": "Questionnaire",
      "id": "q-other",
      "url": "http://ex.org/Q/2",
      "status": "draft",
      "name": "QTwo"
    }""",
    r"""{
      "resourceType": "QuestionnaireResponse",
      "id": "qr-v1",
      "status": "completed",
      "questionnaire": "http://ex.org/Q/1|1.0",
      "subject": {"reference": "Patient/pt-a"},
      "author": {"reference": "Practitioner/pr-edge"},
      "authored": "2020-01-15T10:00:00Z"
    }""",
    r"""{
      "resourceType": "QuestionnaireResponse",
      "id": "qr-nov",
      "status": "in-progress",
      "questionnaire": "http://ex.org/Q/1",
      "subject": {"reference": "Patient/pt-b"},
      "authored": "2020-02"
    }""",
    r"""{
      "resourceType": "QuestionnaireResponse",
      "id": "qr-v3",
      "status": "completed",
      "questionnaire": "http://ex.org/Q/1|3.0",
      "subject": {"reference": "Patient/pt-a"}
    }""",
    r"""{
      "resourceType": "QuestionnaireResponse",
      "id": "qr-q2",
      "status": "completed",
      "questionnaire": "http://ex.org/Q/2",
      "subject": {"reference": "Patient/pt-d"},
      "author": {"reference": "Patient/pt-d"}
    }""",
    # ValueSets, for uri :above / :below
    r"""{
      "resourceType": "ValueSet",
      "id": "vs-0",
      "url": "http://ex.org/fhir/ValueSet/a",
      "status": "active",
      "name": "VS0"
    }""",
    r"""{
      "resourceType": "ValueSet",
      "id": "vs-1",
      "url": "http://ex.org/fhir/ValueSet/a/b",
      "status": "active",
      "name": "VS1"
    }""",
    r"""{
      "resourceType": "ValueSet",
      "id": "vs-2",
      "url": "http://ex.org/fhir/ValueSet/ab",
      "status": "active",
      "name": "VS2"
    }""",
    r"""{
      "resourceType": "ValueSet",
      "id": "vs-3",
      "url": "http://other.org/ValueSet/x",
      "status": "active",
      "name": "VS3"
    }""",
    r"""{
      "resourceType": "ValueSet",
      "id": "vs-4",
      "url": "urn:oid:1.2.3",
      "status": "active",
      "name": "VS4"
    }""",
    # Lists (one entry points to nothing)
    r"""{
      "resourceType": "List",
      "id": "list-a",
      "status": "current",
      "mode": "working",
      "subject": {"reference": "Patient/pt-a"},
      "entry": [
        {"item": {"reference": "Patient/pt-a"}},
        {"item": {"reference": "Patient/pt-b"}},
        {"item": {"reference": "Observation/ob-150"}},
        {"item": {"reference": "Observation/ob-100"}},
        {"item": {"reference": "Patient/does-not-exist"}}
      ]
    }""",
    r"""{"resourceType": "List", "id": "list-empty", "status": "current", "mode": "working"}""",
    # Procedures
    r"""{
      "resourceType": "Procedure",
      "id": "proc-a",
      "status": "completed",
      "code": {
        "coding": [{"system": "http://snomed.info/sct", "code": "80146002"}],
        "text": "Appendectomy"
      },
      "subject": {"reference": "Patient/pt-a"},
      "performedPeriod": {"start": "2020-01-01", "end": "2020-01-01"},
      "encounter": {"reference": "Encounter/enc-a"}
    }""",
    r"""{
      "resourceType": "Procedure",
      "id": "proc-b",
      "status": "completed",
      "code": {"coding": [{"system": "http://snomed.info/sct", "code": "80146002"}]},
      "subject": {"reference": "Patient/pt-d"},
      "performedDateTime": "2019"
    }""",
    # Odd strings (LIKE and regex metacharacters, case folding, escapes, emoji), big and precise
    # numbers, versioned and absolute references
    r"""{
      "resourceType": "Patient",
      "id": "pt-odd1",
      "name": [{"family": "Sm_th", "given": ["100%"]}],
      "identifier": [{"system": "http://ex.org/mrn", "value": "a,b|c$d"}],
      "gender": "male"
    }""",
    r"""{
      "resourceType": "Patient",
      "id": "pt-odd2",
      "name": [{"family": "a.b(c)[d]^e$f", "given": ["O'Brien"]}],
      "identifier": [{"system": "http://ex.org/mrn", "value": "MRN-001X"}]
    }""",
    r"""{
      "resourceType": "Patient",
      "id": "pt-odd3",
      "name": [{"family": "Straße", "given": ["İsmail", "ΣΊΣΥΦΟΣ"]}],
      "identifier": [{"system": "HTTP://EX.ORG/MRN", "value": "mrn-001"}],
      "birthDate": "1980-05-15"
    }""",
    r"""{
      "resourceType": "Patient",
      "id": "pt-odd4",
      "name": [{"family": "back\\slash", "given": ["tab\tchar"]}, {"family": "Smith"}],
      "birthDate": "2000-02-29"
    }""",
    r"""{
      "resourceType": "Patient",
      "id": "pt-odd5",
      "name": [{"family": "zz😀emoji"}],
      "birthDate": "1980-05-15",
      "active": true,
      "gender": "other"
    }""",
    r"""{
      "resourceType": "Observation",
      "id": "ob-big",
      "status": "final",
      "code": {
        "coding": [{"system": "http://loinc.org", "code": "1234-5", "display": "Edge test"}],
        "text": "edge measurement"
      },
      "subject": {"reference": "Patient/pt-odd1"},
      "effectiveDateTime": "2020-01-15T23:30:00.500+05:00",
      "valueQuantity": {
        "value": 123456789.123456789,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg"
      }
    }""",
    r"""{
      "resourceType": "Observation",
      "id": "ob-tiny",
      "status": "final",
      "code": {
        "coding": [{"system": "http://loinc.org", "code": "1234-5", "display": "Edge test"}],
        "text": "edge measurement"
      },
      "subject": {"reference": "Patient/pt-odd1"},
      "effectiveDateTime": "2020-01-15T18:00:00.000Z",
      "valueQuantity": {
        "value": 0.000100,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg"
      }
    }""",
    r"""{
      "resourceType": "Observation",
      "id": "ob-zero",
      "status": "final",
      "code": {
        "coding": [{"system": "http://loinc.org", "code": "1234-5", "display": "Edge test"}],
        "text": "edge measurement"
      },
      "subject": {"reference": "Patient/pt-odd2"},
      "effectiveDateTime": "2020-01-15T18:00:00Z",
      "valueQuantity": {
        "value": 0,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg"
      }
    }""",
    r"""{
      "resourceType": "Observation",
      "id": "ob-nounit",
      "status": "final",
      "code": {
        "coding": [{"system": "http://loinc.org", "code": "1234-5", "display": "Edge test"}],
        "text": "edge measurement"
      },
      "subject": {"reference": "Patient/pt-odd2"},
      "effectiveDateTime": "2020",
      "valueQuantity": {"value": 100}
    }""",
    r"""{
      "resourceType": "Observation",
      "id": "ob-ver",
      "status": "final",
      "code": {
        "coding": [{"system": "http://loinc.org", "code": "1234-5", "display": "Edge test"}],
        "text": "edge measurement"
      },
      "subject": {"reference": "Patient/pt-a/_history/1"},
      "effectiveDateTime": "2020",
      "valueQuantity": {
        "value": 5,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg"
      }
    }""",
    _own(
        r"""{
          "resourceType": "Observation",
          "id": "ob-ownbase",
          "status": "final",
          "code": {
            "coding": [{"system": "http://loinc.org", "code": "1234-5", "display": "Edge test"}],
            "text": "edge measurement"
          },
          "subject": {"reference": "{own}/Patient/pt-b"},
          "effectiveDateTime": "2020",
          "valueQuantity": {
            "value": 6,
            "unit": "mg",
            "system": "http://unitsofmeasure.org",
            "code": "mg"
          }
        }"""
    ),
    r"""{
      "resourceType": "Observation",
      "id": "ob-multi",
      "status": "final",
      "code": {
        "coding": [{"system": "http://loinc.org", "code": "AbC-1", "display": "Edge test"}],
        "text": "edge measurement"
      },
      "subject": {"reference": "Patient/pt-odd3"},
      "effectiveDateTime": "2018",
      "valueQuantity": {
        "value": 2,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg"
      },
      "category": [
        {
          "coding": [
            {"system": "http://ex.org/cat", "code": "B"},
            {"system": "http://ex.org/cat", "code": "a"}
          ]
        }
      ]
    }""",
    r"""{
      "resourceType": "Questionnaire",
      "id": "q-v3",
      "url": "http://ex.org/Q/1",
      "version": "10.0",
      "status": "retired",
      "name": "QOne"
    }""",
]
"""PUT in this order, each to `{resourceType}/{id}`."""

# An Organization partOf chain 11 deep (beyond the _include:iterate limit), ids in reverse
# order of the chain.
RESOURCES += [
    json.dumps(
        {
            "resourceType": "Organization",
            "id": f"deep-{i:02d}",
            "name": f"Deep {i}",
            **({"partOf": {"reference": f"Organization/deep-{i + 1:02d}"}} if i < 10 else {}),
        }
    )
    for i in range(11)
]

MUTATIONS: list[tuple[str, str, str | None]] = [
    (
        "PUT",
        "Patient/pt-e",
        r"""{
          "resourceType": "Patient",
          "id": "pt-e",
          "name": [{"family": "Parker", "given": ["Mary"]}],
          "gender": "female",
          "birthDate": "1981-01-01"
        }""",
    ),
    (
        "PUT",
        "Observation/ob-zero",
        r"""{
          "resourceType": "Observation",
          "id": "ob-zero",
          "status": "amended",
          "code": {"coding": [{"system": "http://loinc.org", "code": "1234-5"}]},
          "subject": {"reference": "Patient/pt-odd2"},
          "valueQuantity": {
            "value": 42,
            "unit": "mg",
            "system": "http://unitsofmeasure.org",
            "code": "mg"
          }
        }""",
    ),
    ("DELETE", "Observation/ob-tiny", None),
    ("DELETE", "Patient/pt-odd5", None),
    ("DELETE", "Questionnaire/q-v3", None),
    (
        "PUT",
        "Questionnaire/q-v3",
        r"""{
          "resourceType": "Questionnaire",
          "id": "q-v3",
          "url": "http://ex.org/Q/1",
          "version": "10.0",
          "status": "active",
          "name": "QOneRevived"
        }""",
    ),
    ("DELETE", "Encounter/enc-c", None),
]
"""(method, path, body) applied after RESOURCES: updates and deletes, one re-created."""


NAMES = [
    *("Sm_th", "Sm%th", "Sm", "S_", "100%", "100", "%", "_"),
    *("a.b", "a.b(c)", "(c)", "[d]", "^e", "$f", "a.*", ".*", "O'Brien", "o'b"),
    *("Straße", "strasse", "STRASSE", "stra", "İsmail", "ismail", "σίσυφος", "ΣΊΣΥΦΟΣ", "sisyf"),
    *("back\\slash", "back", "\\", "tab", "zz", "zz\U0001f600", "\U0010ffff", "z\uffff"),
    *("smith ", " smith", "jo hn", "Parker", "Watson", "Mary Jane"),
]
"""Values of `name`, each searched plain, :exact and :contains."""

IDENTIFIERS = [
    *("a\\,b\\|c\\$d", "a,b|c$d", "http://ex.org/mrn|a\\,b\\|c\\$d", "http://ex.org/mrn|a,b"),
    *("mrn-001", "MRN-001", "http://ex.org/MRN|MRN-001", "HTTP://EX.ORG/MRN|mrn-001"),
    *("MRN-001X", "http://ex.org/mrn|MRN-00", "MRN-00*"),
]

QUANTITIES = [
    *("123456789.123456789", "123456789.12345679", "123456789.1234568", "1.23456789e8"),
    *("123456789", "ap123456789", "gt123456789.1", "0.0001", "0.000100"),
    *("0", "eq0", "ge0", "le0", "ne0", "42", "gt41", "100", "ne100"),
    *("-3.25", "lt-3", "gt-4", "sa-4", "eb0", "1e-4", "6"),
    *("100||", "100|http://unitsofmeasure.org|", "100||mg", "5||mg", "ap100||mg", "ne100||mg"),
    *("0.000001|http://unitsofmeasure.org|kg", "1e-4||mg"),
]

DATES = [
    *("2020-01-15", "2020-01-15T18:00:00Z", "2020-01-15T18:00:00.5Z", "2020-01-15T18:00:00.500Z"),
    *("2020-01-15T18:30:00.5Z", "ge2020-01-15T18:30:00.5Z", "gt2020-01-15T18:30:00.5Z"),
    *("lt2020-01-15T18:30:00.501Z", "2020-01-15T18:30Z", "2020-01-15T18:30:00+00:00"),
    *("2020-01-16", "2020-01-14", "2018", "eb2018-12-31", "sa2019", "ap2020-01-15", "ne2020"),
    "2020-01-15T13:00:00-05:00",
]

BIRTHDATES = [
    *("2000-02-29", "2000-02", "ge2000-02-29", "gt2000-02-28T23:59:59Z", "1980-05-15"),
    *("ne1980-05-15", "1981", "ge1981-01-01", "lt1980-05-16"),
]

OBSERVATION_SEARCHES = [
    *("subject=pt-a", "subject=Patient/pt-a/_history/1", "subject=Patient/pt-a/_history/2"),
    *("subject=pt-b", f"subject={OWN_BASE}/Patient/pt-b", f"subject={OWN_BASE}/Patient/pt-a"),
    *("subject:Patient=pt-b", "patient=pt-odd1", "subject:missing=false&code=1234-5"),
    *("subject.name=smith", "subject.name=parker", "subject.name=watson", "subject._id=pt-b"),
    *("subject._id=pt-odd5", "subject.active=true", "subject:Patient.gender=other"),
    *("status=amended", "status=final&subject=pt-odd2", "_id=ob-tiny"),
    *("_id=ob-zero&value-quantity=0", "_id=ob-zero&value-quantity=42"),
]
"""Observation searches after the updates and deletes (MUTATIONS), and on references."""

UPDATED_AND_DELETED = [
    "Patient?_id=pt-odd5",
    "Patient?name=zz",
    "Patient?birthdate=1980-05-15",
    "Patient?_has:Observation:subject:_id=ob-tiny",
    "Encounter?_id=enc-c",
    "Encounter?part-of=enc-a",
    "Encounter?_id=enc-a&_revinclude=Encounter:part-of",
    "Questionnaire?url=http://ex.org/Q/1",
    "Questionnaire?name=QOneRevived",
    "Questionnaire?status=retired",
    "Questionnaire?_sort=-version,_id",
    "QuestionnaireResponse?questionnaire=http://ex.org/Q/1"
    "&_include=QuestionnaireResponse:questionnaire",
    "QuestionnaireResponse?questionnaire=Questionnaire/q-v3",
    "QuestionnaireResponse?questionnaire.name=QOneRevived",
    "QuestionnaireResponse?questionnaire.status=active",
    "QuestionnaireResponse?questionnaire.version=10.0",
    "Questionnaire?_id=q-v3&_revinclude=QuestionnaireResponse:questionnaire",
    "Questionnaire?_has:QuestionnaireResponse:questionnaire:status=in-progress",
    "QuestionnaireResponse?_id=qr-nov&_include=QuestionnaireResponse:questionnaire",
    "Patient?_id=pt-a&_revinclude=Observation:subject",
    "Patient?_id=pt-b&_revinclude=Observation:subject",
    "Patient/pt-b/Observation",
    "Patient/pt-a/Observation",
    "Patient/pt-odd5/*",
    "Patient/pt-odd1/Observation",
]

SORTS = [
    *("Patient?_sort=family,_id", "Patient?_sort=-family,_id", "Patient?_sort=given,_id"),
    *("Patient?_sort=-given,_id", "Patient?_sort=name,_id", "Patient?_sort=-name,_id"),
    *("Patient?_sort=identifier,_id", "Patient?_sort=-identifier,_id", "Patient?_sort=gender"),
    *("Patient?_sort=-gender,_id", "Patient?_sort=birthdate,_id", "Patient?_sort=-birthdate,-_id"),
    *("Patient?_sort=organization,_id", "Patient?_sort=general-practitioner,-_id"),
    *("Patient?_sort=family&_count=1", "Patient?_sort=-birthdate&_count=1"),
    *("Observation?_sort=category,_id", "Observation?_sort=-category,_id"),
    *("Observation?_sort=subject,_id", "Observation?_sort=-subject,-_id"),
    *(
        "Observation?code=1234-5&_sort=value-quantity",
        "Observation?code=1234-5&_sort=-value-quantity",
    ),
    "Observation?code=1234-5&_sort=-value-quantity,_id&_count=1",
    "Observation?code=1234-5&_sort=date,_id&_count=2",
    "Observation?code=1234-5&_sort=-date,_id&_count=3",
    "Observation?code=1234-5&_sort=status,-date,_id&_count=4",
    "Observation?_sort=value-string,_id&_count=50",
    *("Observation?_sort=-code,_id&_count=50", "Observation?_sort=code,_id&_count=50"),
    *("Encounter?_sort=-part-of,_id", "Encounter?_sort=length,-_id&_count=1"),
    *("RiskAssessment?_sort=probability", "RiskAssessment?_sort=-probability"),
    *("RiskAssessment?_sort=probability&_count=1", "RiskAssessment?_sort=-probability&_count=1"),
    *("Condition?_sort=onset-date", "Condition?_sort=-onset-date"),
    *(
        "Condition?_sort=abatement-date,_id",
        "Condition?_sort=code,_id",
        "Condition?_sort=-code,_id",
    ),
    *("ValueSet?_sort=-url&_count=2", "ValueSet?_sort=url&_count=2"),
]

PAGED_WITH_INCLUDES = [
    "Observation?code=1234-5&_count=1&_include=Observation:subject",
    "Observation?code=1234-5&_count=2&_include=Observation:subject&_sort=-date,_id",
    "Patient?_count=2&_revinclude=Observation:subject&_id=pt-a,pt-b,pt-d,pt-odd1",
    "Patient?_count=1&_include=Patient:general-practitioner&_sort=_id",
    "Observation?code=1234-5&_include=Observation:subject&_summary=count",
    "Observation?code=1234-5&_include=Observation:subject&_elements=status",
    "Observation?code=1234-5&_include=Observation:subject&_total=accurate&_count=3",
    "Observation?_count=0&code=1234-5",
]

ERRORS_AND_ODD_PARAMETERS = [
    *("Patient?name=", "Patient?name:missing=maybe", "Patient?bogus=1", "Patient?_sort=bogus"),
    *("Patient?_count=-1", "Patient?_count=abc", "Patient?_count=100000"),
    *("Patient?birthdate=2020-13-01", "Patient?birthdate=xx2020"),
    *("Observation?value-quantity=abc", "Observation?value-quantity=gt"),
    *("Patient?_text=smith", "Patient?_content=smith", "Observation?code:in=http://ex.org/vs"),
    "Observation?code:below=http://loinc.org|1234",
    "Observation?code-value-quantity=" + quote("1234-5$ne5"),
    *("Patient?_has:Observation=1", "Patient?_has:Observation:subject=1"),
    *("Observation?subject.bogus=1", "Observation?status.name=x", "Patient?_include=Bogus:x"),
    *("Patient?_include=Patient:bogus", "Patient?_sort=", "Patient?_total=bogus"),
    *("Patient?_summary=bogus", "Patient?_elements=bogus", "Patient?_type=Observation"),
    *("?_type=Bogus", "?name=smith", "?_type=Patient,Observation&_sort=birthdate"),
    *("?_type=Patient,Observation&name=smith", "?_type=Patient,Observation&gender=male"),
    *("Patient?name=$where", "Patient?name=%7B%22%24gt%22%3A%22%22%7D"),
    *("Patient?identifier=%24ne%7C%24ne", "Patient?_id=$gt", "Patient?_id=a.b"),
    "Patient?_id=" + "x" * 70,
    "Patient?name:contains=%5E.%2A",
    "Patient?family:exact=" + quote("a.b(c)[d]^e$f"),
    *("Patient?_list=$x", "Observation?subject=Patient/$x", "Observation?subject:identifier=$x|$y"),
    "Observation?_id=ob-tiny&_include=Observation:subject",
    "Patient?_id=pt-odd5&_revinclude=Observation:subject",
]


def _queries() -> list[str]:
    queries = [f"Patient?name{m}={quote(v)}" for v in NAMES for m in ("", ":exact", ":contains")]
    queries += [f"Patient?identifier={quote(v)}" for v in IDENTIFIERS]
    for gender in ("male", "MALE", "Male", "other", "unknown", "female,other"):
        queries += [f"Patient?gender={gender}", f"Patient?gender:not={gender}"]
    queries += [
        *("Observation?code=abc-1", "Observation?code=AbC-1"),
        *("Observation?category=http://ex.org/cat|a", "Observation?category=http://ex.org/cat|A"),
        *("Observation?category:text=survey", "Observation?code:text=EDGE"),
        *("Observation?code:text=measure", "Observation?code:text=edge%20meas"),
    ]
    queries += [f"Observation?value-quantity={quote(v)}" for v in QUANTITIES]
    queries += [f"Observation?date={quote(v)}" for v in DATES]
    queries += [f"Patient?birthdate={quote(v)}" for v in BIRTHDATES]
    queries += [f"Observation?{q}" for q in OBSERVATION_SEARCHES]
    return queries + UPDATED_AND_DELETED + SORTS + PAGED_WITH_INCLUDES + ERRORS_AND_ODD_PARAMETERS


QUERIES = _queries()
"""The searches (relative to the tenant's base), each followed through every next link."""
