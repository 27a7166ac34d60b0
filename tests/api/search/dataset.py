"""A small clinical record for the search tests, created through the API."""

from __future__ import annotations

from typing import Any

import httpx

FHIR_JSON = {"Content-Type": "application/fhir+json"}
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


async def put(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    url = f"{resource['resourceType']}/{resource['id']}"
    response = await client.put(url, json=resource, headers=FHIR_JSON)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def observation(
    oid: str, patient: str, code: str, value: float, unit: str, when: str, **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": extra.pop("status", "final"),
        "code": {
            "coding": [{"system": LOINC, "code": code}],
            "text": extra.pop("text", f"code {code}"),
        },
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
        **extra,
    }


async def load(client: httpx.AsyncClient) -> None:
    await put(
        client,
        {
            "resourceType": "Organization",
            "id": "org1",
            "name": "Acme Clinic",
            "address": [{"city": "Springfield"}],
        },
    )
    await put(client, {"resourceType": "Organization", "id": "org2", "name": "Globex Health"})
    await put(
        client, {"resourceType": "Practitioner", "id": "dr1", "name": [{"family": "Kildare"}]}
    )
    await put(
        client,
        {
            "resourceType": "PractitionerRole",
            "id": "role1",
            "practitioner": {"reference": "Practitioner/dr1"},
            "organization": {"reference": "Organization/org1"},
        },
    )
    await put(
        client,
        {
            "resourceType": "Patient",
            "id": "p1",
            "active": True,
            "gender": "female",
            "birthDate": "1980-05-17",
            "name": [{"family": "Müller", "given": ["Zoë"]}],
            "identifier": [
                {
                    "system": "urn:mrn",
                    "value": "A-1",
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                "code": "MR",
                            }
                        ]
                    },
                }
            ],
            "telecom": [{"system": "email", "value": "zoe@example.org"}],
            "generalPractitioner": [{"reference": "Practitioner/dr1"}],
            "managingOrganization": {"reference": "Organization/org1"},
            "meta": {
                "tag": [{"system": "urn:tags", "code": "vip"}],
                "profile": ["http://example.org/fhir/StructureDefinition/my-patient"],
            },
        },
    )
    await put(
        client,
        {
            "resourceType": "Patient",
            "id": "p2",
            "active": False,
            "gender": "male",
            "birthDate": "1955",
            "name": [{"family": "Mulligan", "given": ["Adam"]}],
            "identifier": [{"system": "urn:mrn", "value": "B-2"}],
            "managingOrganization": {"reference": "Organization/org2"},
        },
    )
    await put(
        client,
        {
            "resourceType": "Patient",
            "id": "p3",
            "gender": "other",
            "name": [{"family": "Smith, Jr", "given": ["O'Neil"]}],
        },
    )
    await put(client, observation("o1", "p1", "8302-2", 165, "cm", "2021-03-01T10:00:00Z"))
    await put(client, observation("o2", "p1", "29463-7", 64.5, "kg", "2021-06-15"))
    await put(client, observation("o3", "p2", "29463-7", 90000, "g", "2020-01-20"))
    await put(client, observation("o4", "p2", "8302-2", 180, "cm", "2022-11-30", status="amended"))
    await put(
        client,
        {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": "Patient/p1"},
            "period": {"start": "2021-03-01T09:00:00Z", "end": "2021-03-01T11:00:00Z"},
        },
    )
    confidentiality = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
    await put(
        client,
        {
            "resourceType": "Observation",
            "id": "o5",
            "status": "final",
            "code": {"text": "note"},
            "subject": {"identifier": {"system": "urn:mrn", "value": "B-2"}},
            "meta": {
                "security": [{"system": confidentiality, "code": "R"}],
                "source": "http://lab.example.org/feed#42",
            },
        },
    )
    await put(
        client,
        {
            "resourceType": "List",
            "id": "l1",
            "status": "current",
            "mode": "working",
            "entry": [{"item": {"reference": "Patient/p1"}}, {"item": {"reference": "Patient/p3"}}],
        },
    )
    await put(
        client,
        {
            "resourceType": "Provenance",
            "id": "prov1",
            "recorded": "2021-03-01T12:00:00Z",
            "target": [{"reference": "Observation/o1"}],
            "agent": [{"who": {"reference": "Practitioner/dr1"}}],
        },
    )
    await put(
        client,
        {
            "resourceType": "ValueSet",
            "id": "vs1",
            "status": "active",
            "url": "http://acme.org/fhir/ValueSet/vitals",
            "version": "2.0",
        },
    )
