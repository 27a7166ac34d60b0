"""Checks of primitive values against their R4 JSON representation and lexical rules.

- JSON kinds: http://hl7.org/fhir/R4/json.html#primitive (boolean is `true`/`false`; integer,
  positiveInt and unsignedInt are JSON numbers without fraction or exponent; decimal is a JSON
  number; every other primitive is a JSON string).
- Lexical rules: the regexes published in the StructureDefinitions, which are those of
  http://hl7.org/fhir/R4/datatypes.html, plus its ranges (32-bit integers) and the rule of
  json.html that no element is empty (so no empty strings).

A checker returns None when the value is valid, else the end of a sentence saying why.
Diagnostics never echo the offending value: it may be PHI and issues can end up in logs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

from fhir_server.resource_json import describe
from fhir_server.validation.narrative import check_xhtml
from fhir_server.validation.structure import Primitive

__all__ = ["Checker", "build_checkers"]

Checker = Callable[[object], str | None]

INT_MIN = -(2**31)
INT_MAX = 2**31 - 1

# A short description of the expected form, for types whose regex says little to a reader.
_FORMS = {
    "date": "YYYY, YYYY-MM or YYYY-MM-DD",
    "dateTime": "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss with a time zone",
    "instant": "YYYY-MM-DDThh:mm:ss(.sss) with a time zone (Z or +hh:mm)",
    "time": "hh:mm:ss",
    "id": "1 to 64 characters among A-Z, a-z, 0-9, '-' and '.'",
    "code": "non-empty, without leading, trailing or repeated whitespace",
    "oid": "urn:oid: followed by a dotted OID",
    "uuid": "urn:uuid: followed by a lower-case UUID",
    "uri": "without whitespace",
    "url": "without whitespace",
    "canonical": "without whitespace",
    "base64Binary": "base64 encoded",
    "positiveInt": "an integer of at least 1",
    "unsignedInt": "an integer of at least 0",
}
_DATE_TYPES = frozenset({"date", "dateTime", "instant"})
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_BASE64_ALPHABET = re.compile(r"[0-9a-zA-Z+/=]*", re.ASCII)


def _real_date(value: str) -> bool:
    """The regexes accept 2023-02-31; a date must also exist in the calendar."""
    if len(value) < 10:
        return True
    year, month, day = int(value[:4]), int(value[5:7]), int(value[8:10])
    if month == 2 and day == 29:
        return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return day <= _DAYS[month - 1]


# Characters XML 1.0 cannot carry (xml.html: a resource reads the same in both formats):
# control characters but tab, LF and CR, and the non-characters U+FFFE and U+FFFF.
# (Lone surrogates never get this far: the JSON parser refuses them.)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _string_checker(p: Primitive) -> Checker:
    pattern = re.compile(p.regex, re.ASCII) if p.regex else None  # Java-like \s and \S
    max_length = p.max_length
    bad = f"not a valid {p.name}"
    if p.name in _FORMS:
        bad += f" (expected {_FORMS[p.name]})"
    is_date = p.name in _DATE_TYPES
    is_base64 = p.name == "base64Binary"

    def check(value: object) -> str | None:
        if type(value) is not str:
            return f"expected a JSON string ({p.name}), got {describe(value)}"
        if not value:
            return "empty strings are not allowed (omit the element instead)"
        if value[0] <= " " and value.isspace():
            # formats.html: a value holds at least one character that is not whitespace
            return "a value of whitespace alone is not allowed (omit the element instead)"
        if max_length is not None and len(value) > max_length:
            return f"longer than the {max_length} characters allowed"
        if is_base64 and _BASE64_ALPHABET.fullmatch(value):
            # The spec regex steps through every 4-character group (~40 ms per MB); for the
            # usual value without whitespace it reduces to this exact, much faster check.
            return bad if len(value) % 4 else None
        if pattern is not None and pattern.fullmatch(value) is None:
            return bad
        if _CONTROL.search(value):
            # datatypes.html#string: no characters below U+0020 but tab, CR and LF
            return (
                "contains a character XML cannot carry: a control character other than "
                "tab, CR and LF, or U+FFFE or U+FFFF"
            )
        if is_date and not _real_date(value):
            return f"not a valid {p.name}: no such day in the calendar"
        return None

    return check


_DIGITS = re.compile(r"-?[0-9]+")


def _integer_checker(p: Primitive) -> Checker:
    pattern = re.compile(p.regex, re.ASCII) if p.regex else None
    form = _FORMS.get(p.name, "an integer")

    def check(value: object) -> str | None:
        too_big = f"{p.name} values must fit in 32 bits ({INT_MIN} to {INT_MAX})"
        if type(value) is not int:  # bool is an int subclass: `type` rejects it too
            if isinstance(value, float):
                # beyond int64 the parser keeps the digits as a number's text
                if _DIGITS.fullmatch(repr(value)):
                    return too_big
                return f"expected {form} as a JSON number without fraction or exponent"
            return f"expected {form} as a JSON number, got {describe(value)}"
        if not INT_MIN <= value <= INT_MAX:
            return too_big
        if pattern is not None and pattern.fullmatch(str(value)) is None:
            return f"expected {form}"
        return None

    return check


def _decimal_checker(p: Primitive) -> Checker:
    def check(value: object) -> str | None:
        if type(value) is int:
            return None
        # a float, or a number kept with its text (resource_json.JsonDecimal)
        if not isinstance(value, float):
            return f"expected a {p.name} as a JSON number, got {describe(value)}"
        if not math.isfinite(value):
            return f"a {p.name} must be a finite number"
        return None

    return check


def _boolean_checker(p: Primitive) -> Checker:
    def check(value: object) -> str | None:
        if value is True or value is False:
            return None
        return f"expected a boolean (true or false), got {describe(value)}"

    return check


def build_checkers(primitives: Mapping[str, Primitive]) -> dict[str, Checker]:
    """One checker per primitive type code."""
    factories: dict[str, Callable[[Primitive], Checker]] = {
        "boolean": _boolean_checker,
        "integer": _integer_checker,
        "number": _decimal_checker,
        "string": _string_checker,
    }
    checkers = {name: factories[p.json](p) for name, p in primitives.items()}
    if "xhtml" in checkers:
        checkers["xhtml"] = _xhtml_checker(checkers["xhtml"])
    return checkers


def _xhtml_checker(as_string: Checker) -> Checker:
    """A JSON string (as every string), holding acceptable narrative XHTML."""

    def check(value: object) -> str | None:
        problem = as_string(value)
        if problem is not None:
            return problem
        assert isinstance(value, str)
        return check_xhtml(value)

    return check
