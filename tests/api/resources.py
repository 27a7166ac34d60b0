"""Example resources the API tests send."""

from __future__ import annotations

from typing import Any

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def patient(family: str = "Chalmers", mrn: str | None = None, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": "http://hospital.example/mrn", "value": mrn or f"MRN-{family}"}],
        "active": True,
        "name": [{"use": "official", "family": family, "given": ["Peter", "James"]}],
        "gender": "male",
        "birthDate": "1974-12-25",
    }
    resource.update(extra)
    return resource


def observation(subject: str, text: str = "obs", **extra: Any) -> dict[str, Any]:
    """A final Observation about `subject` (a reference such as `Patient/1`)."""
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": text},
        "subject": {"reference": subject},
    }
    resource.update(extra)
    return resource
