"""The only module that imports `fhir.resources` (its R4B models).

The write path validates with the R4 structure generated from the 4.0.1 StructureDefinitions
(`fhir_server.validation`), because the R4B models are lax about JSON primitive types and
lack 18 R4 resource types. XML is read and written by `fhir_server.xml_format`, from the
same R4 definitions: fhir.resources' XML support drops element ids, writes them as
elements, rounds decimals through floats and fails on some comments (docs/architecture.md).
What remains here is the second opinion of a full object model: `check_model` loads a
resource into its R4B model, as the TestScript engine's `validateProfileId` asks.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from fhir_server.errors import Issue

__all__ = ["check_model"]


@cache
def _model_class(resource_type: str) -> Any:
    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError):
        return None


def check_model(resource: dict[str, Any]) -> list[Issue] | None:
    """What the R4B model rejects in `resource` (the first 20 issues; [] when it loads).

    None when R4B has no model for the resource type (one of the R4-only types).
    """
    resource_type = str(resource.get("resourceType"))
    model = _model_class(resource_type)
    if model is None:
        return None
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        return [
            Issue("structure", str(err["msg"]), (_fhirpath(resource_type, err["loc"]),))
            for err in exc.errors()[:20]
        ]
    return []


def _fhirpath(resource_type: str, loc: tuple[int | str, ...]) -> str:
    path = resource_type
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path
