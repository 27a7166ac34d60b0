"""Diagnostics of the validator: one clear sentence per issue, naming the element.

Kept apart from the walk in `validator.py` so the wording can be reviewed in one place. The
sentences never quote free-text values (they may be PHI and issues can reach logs); only codes
checked against a required value set are quoted, shortened.
"""

from __future__ import annotations

from fhir_server.resource_json import describe
from fhir_server.validation.structure import ElementDef

__all__ = [
    "EXT_1",
    "bad_code",
    "bad_value",
    "empty_array",
    "must_be_array",
    "no_value_nor_extension",
    "not_array",
    "null_item",
]

# http://hl7.org/fhir/R4/extensibility.html#Extension, constraint ext-1
EXT_1 = "An extension must have either a value[x] or nested extensions, not both (ext-1)"


def null_item(name: str) -> str:
    return f"A null item in '{name}' is allowed only where '_{name}' has an item (json.html)"


def not_array(key: str) -> str:
    return f"Element '{key}' holds a single value, not an array"


def must_be_array(key: str, value: object) -> str:
    return f"Element '{key}' repeats and must be an array, got {describe(value)}"


def no_value_nor_extension(name: str) -> str:
    return f"'{name}' has neither a value nor an extension (ele-1)"


def empty_array(key: str) -> str:
    return f"Empty array for '{key}' is not allowed (omit the element instead)"


def bad_value(key: str, message: str) -> str:
    return f"Invalid value for '{key}': {message}"


def bad_code(code: object, el: ElementDef) -> str:
    shown = str(code)[:64]
    codes = el.codes or frozenset()
    allowed = f" (one of: {', '.join(sorted(codes))})" if len(codes) <= 12 else ""
    return (
        f"Code '{shown}' for '{el.name}' is not in the required value set {el.value_set}{allowed}"
    )
