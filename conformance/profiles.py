"""`validateProfileId`: does a resource conform to a TestScript.profile?

testscript-definitions.html#TestScript.setup.action.assert.validateProfileId asks for
validation against the profile. This engine has no full StructureDefinition validator;
what it checks, so a pass means something definite:

1. the resource's `resourceType` is the profile's type;
2. for a base profile (`http://hl7.org/fhir/StructureDefinition/[Type]`), the resource
   loads into the fhir.resources model through `fhir_server.model` (required elements,
   cardinality and datatypes; R4B models, which are laxer than R4 on primitives and lack
   a few R4-only types, for which this step is reported as not run);
3. for any other profile, whose StructureDefinition is read from a file next to the
   TestScript, from the server under test (`StructureDefinition?url=`), or from its URL:
   every top-level element the profile makes required (min >= 1) is present and every
   element it forbids (max = 0) is absent. Slicing, bindings, invariants and nested
   constraints are not checked; `meta.profile` claims are reported but not required.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from conformance.content import BodyError, Content, load_file
from conformance.transport import Transport
from fhir_server.model import check_model

__all__ = ["Profile", "check_profile", "load_profiles"]

_BASE = re.compile(r"^https?://hl7\.org/fhir/StructureDefinition/([A-Z][A-Za-z]+)$")


@dataclass
class Profile:
    """A TestScript.profile, resolved as far as it could be."""

    id: str
    url: str
    type: str | None = None
    base: bool = False
    required: list[str] = field(default_factory=list)
    forbidden: list[str] = field(default_factory=list)
    error: str | None = None


def load_profiles(
    script: Mapping[str, Any], directory: Path, transport: Transport
) -> dict[str, Profile]:
    """Resolve every TestScript.profile (a Reference to a StructureDefinition)."""
    profiles: dict[str, Profile] = {}
    for index, entry in enumerate(script.get("profile") or []):
        profile_id = str(entry.get("id") or f"profile[{index}]")
        reference = str(entry.get("reference") or "")
        profiles[profile_id] = _resolve(profile_id, reference, directory, transport)
    return profiles


def _resolve(profile_id: str, reference: str, directory: Path, transport: Transport) -> Profile:
    base = _BASE.match(reference)
    if base:
        return Profile(profile_id, reference, base.group(1), base=True)
    definition = _find_definition(reference, directory, transport)
    if isinstance(definition, str):
        return Profile(profile_id, reference, error=definition)
    return _from_definition(profile_id, reference, definition)


def _find_definition(reference: str, directory: Path, transport: Transport) -> dict[str, Any] | str:
    if not reference:
        return "the profile has no reference"
    local = directory / reference
    if "://" not in reference and local.is_file():
        try:
            data = load_file(local).data
        except BodyError as exc:
            return str(exc)
        return data if isinstance(data, dict) else f"{local} is not a StructureDefinition"
    search = transport.send(
        "GET",
        f"StructureDefinition?url={quote(reference, safe='')}",
        {"accept": "application/fhir+json"},
    )
    found = search.response_content.data if search.response_content else None
    if isinstance(found, dict):
        for entry in found.get("entry") or []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and resource.get("resourceType") == "StructureDefinition":
                return resource
    if "://" in reference:
        direct = transport.send("GET", reference, {"accept": "application/fhir+json"})
        data = direct.response_content.data if direct.response_content else None
        if (
            direct.status == 200
            and isinstance(data, dict)
            and data.get("resourceType") == "StructureDefinition"
        ):
            return data
    return f"StructureDefinition '{reference}' not found (file, server or URL)"


def _from_definition(profile_id: str, reference: str, definition: dict[str, Any]) -> Profile:
    kind = definition.get("type")
    profile = Profile(
        profile_id, str(definition.get("url") or reference), str(kind) if kind else None
    )
    view = definition.get("snapshot") or definition.get("differential") or {}
    elements = view.get("element") or []
    for element in elements:
        path = str(element.get("path") or "")
        parts = path.split(".")
        if len(parts) != 2 or ":" in str(element.get("id") or ""):
            continue  # only top-level elements, not slices
        name = parts[1]
        if isinstance(element.get("min"), int) and element["min"] >= 1:
            profile.required.append(name)
        if element.get("max") == "0":
            profile.forbidden.append(name)
    return profile


def _present(resource: dict[str, Any], name: str) -> bool:
    if name.endswith("[x]"):
        stem = name[:-3]
        return any(
            key.startswith(stem) and key[len(stem) : len(stem) + 1].isupper() for key in resource
        )
    return resource.get(name) not in (None, [], {})


def check_profile(profile: Profile, content: Content | None) -> tuple[bool, str]:
    """Whether `content` conforms to `profile`, as far as described in the module doc."""
    if profile.error:
        raise LookupError(f"profile '{profile.id}': {profile.error}")
    if content is None or not isinstance(content.data, dict):
        return False, f"profile '{profile.id}': there is no resource to validate"
    resource = content.data
    kind = content.resource_type
    if profile.type and kind != profile.type:
        return False, f"profile '{profile.id}' ({profile.url}) is for {profile.type}, got {kind}"
    problems = [f"{name} is required" for name in profile.required if not _present(resource, name)]
    problems += [f"{name} is not allowed" for name in profile.forbidden if _present(resource, name)]
    checked = "type"
    if profile.base:
        structure = _structure_problem(resource)
        if structure is None:
            checked = "type and structure"
        elif structure.startswith("not checked"):
            checked = f"type ({structure})"
        else:
            problems.append(structure)
    else:
        checked = "type, required and forbidden top-level elements"
    if problems:
        return False, f"{kind} does not conform to '{profile.url}': {'; '.join(problems[:5])}"
    claims = (resource.get("meta") or {}).get("profile") or []
    claim = "; meta.profile claims it" if profile.url in claims else ""
    return True, f"{kind} conforms to '{profile.url}' (checked: {checked}{claim})"


def _structure_problem(resource: dict[str, Any]) -> str | None:
    """A description of what the model rejects, "not checked: ..." or None when it loads."""
    issues = check_model(resource)
    if issues is None:
        return f"not checked: fhir.resources has no R4B model for '{resource.get('resourceType')}'"
    if issues:
        details = [f"{', '.join(i.expression)}: {i.diagnostics}" for i in issues[:5]]
        return "structure: " + "; ".join(details)
    return None
