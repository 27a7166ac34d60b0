"""Strict structural validation of FHIR R4 (4.0.1) resources, from the official definitions.

`validate_resource(resource)` returns the problems found as `fhir_server.errors.Issue`s (an empty
list when the resource is valid); `load_structure()` exposes the generated R4 structure table
(elements, types, cardinality, summary flags) to other modules such as `fhir_server.summary`.
See http://hl7.org/fhir/R4/json.html and http://hl7.org/fhir/R4/validation.html.
"""

from fhir_server.validation.structure import load_structure
from fhir_server.validation.validator import MAX_ISSUES, validate_resource

__all__ = ["MAX_ISSUES", "load_structure", "validate_resource"]
