"""Turning typed element values into index entries, per search parameter type.

Which parts of an element a search type matches is set by the tables of
https://hl7.org/fhir/R4/search.html (#string, #token, #reference, #date, #number,
#quantity, #uri). `converter_for` picks, once per compiled expression branch, the function
for a (search type, element type) pair; the FHIRPath engine fallback picks per value with
the same table, so the two paths cannot normalize differently.
"""

from __future__ import annotations

from typing import Any

from fhir_server.search.convert_ranges import (
    Converter,
    date,
    instant,
    money,
    number,
    number_range,
    period,
    quantity,
    quantity_range,
    timing,
)
from fhir_server.search.entries import (
    IndexEntry,
    ReferenceEntry,
    StringEntry,
    TokenEntry,
    UriEntry,
)
from fhir_server.search.fhirtypes import lineage
from fhir_server.search.normalize import fold, parse_reference

__all__ = ["Converter", "converter_for"]


# Suffix of the synthetic parameter that holds identifier types (`identifier:of-type`).
OF_TYPE = ":of-type"


def of_type_code(type_code: str, value: str) -> str:
    """The entry code of `:of-type`: the type code and the identifier value, joined by a
    separator that FHIR strings cannot hold (a `|` in either could forge a match)."""
    return f"{type_code}\x1f{value}"


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# -- string (search.html#string) -------------------------------------------------------------

_NAME_PARTS = ("family", "given", "prefix", "suffix", "text")
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")


def _string(param: str, value: Any, out: list[IndexEntry]) -> None:
    if isinstance(value, str) and value:
        out.append(StringEntry(param, fold(value), value))


def _parts(names: tuple[str, ...]) -> Converter:
    def convert(param: str, value: Any, out: list[IndexEntry]) -> None:
        if not isinstance(value, dict):
            return
        for name in names:
            part = value.get(name)
            if isinstance(part, list):
                for item in part:
                    _string(param, item, out)
            else:
                _string(param, part, out)

    return convert


# -- token (search.html#token) ---------------------------------------------------------------


def _fold_opt(value: Any) -> str | None:
    text = _str(value)
    return None if text is None else fold(text)


def _coding(param: str, value: Any, out: list[IndexEntry]) -> None:
    if not isinstance(value, dict):
        return
    system, code = _str(value.get("system")), _str(value.get("code"))
    if system is not None or code is not None:
        out.append(TokenEntry(param, system, code, _fold_opt(value.get("display"))))


def _codeable_concept(param: str, value: Any, out: list[IndexEntry]) -> None:
    if not isinstance(value, dict):
        return
    codings = value.get("coding")
    if isinstance(codings, list):
        for coding in codings:
            _coding(param, coding, out)
    text = _fold_opt(value.get("text"))
    if text is not None:
        # Its own entry: `:text` looks at CodeableConcept.text as well as Coding.display.
        out.append(TokenEntry(param, None, None, text))


def _identifier(param: str, value: Any, out: list[IndexEntry]) -> None:
    if not isinstance(value, dict):
        return
    system, code = _str(value.get("system")), _str(value.get("value"))
    kind = value.get("type")
    text = _fold_opt(kind.get("text")) if isinstance(kind, dict) else None
    if system is not None or code is not None:
        out.append(TokenEntry(param, system, code, text))
    if code is not None and isinstance(kind, dict):
        _identifier_types(param, kind, code, out)


def _identifier_types(param: str, kind: dict[str, Any], value: str, out: list[IndexEntry]) -> None:
    """Entries for `param:of-type=system|code|value` (search.html#token): one per coding of
    the identifier's type, under the parameter code suffixed ":of-type", with the code and
    the identifier's value joined as the entry's code."""
    for coding in kind.get("coding") or ():
        if isinstance(coding, dict) and (type_code := _str(coding.get("code"))) is not None:
            system = _str(coding.get("system"))
            out.append(
                TokenEntry(f"{param}{OF_TYPE}", system, of_type_code(type_code, value), None)
            )


def _contact_point(param: str, value: Any, out: list[IndexEntry]) -> None:
    # search.html#token: a ContactPoint matches on its value; its system is not a URI.
    if isinstance(value, dict) and (code := _str(value.get("value"))) is not None:
        out.append(TokenEntry(param, None, code, None))


def _token_code(param: str, value: Any, out: list[IndexEntry]) -> None:
    if isinstance(value, bool):
        out.append(TokenEntry(param, None, "true" if value else "false", None))
    elif isinstance(value, str) and value:
        out.append(TokenEntry(param, None, value, None))


def _code_in(system: str) -> Converter:
    """A `code` bound to one code system: search.html#token gives it that system
    implicitly, so `gender=http://hl7.org/fhir/administrative-gender|male` matches."""

    def convert(param: str, value: Any, out: list[IndexEntry]) -> None:
        if isinstance(value, str) and value:
            out.append(TokenEntry(param, system, value, None))

    return convert


# -- reference (search.html#reference) -------------------------------------------------------


def _reference(param: str, value: Any, out: list[IndexEntry]) -> None:
    if not isinstance(value, dict):
        return
    literal = _str(value.get("reference"))
    parsed = None if literal is None else parse_reference(literal)
    if literal is not None and parsed is None:
        return  # a "#contained" reference: the contained resource is no search target
    identifier = value.get("identifier")
    id_system = id_value = None
    if isinstance(identifier, dict):
        id_system, id_value = _str(identifier.get("system")), _str(identifier.get("value"))
    if parsed is None and id_system is None and id_value is None:
        return  # only a display: nothing to search on
    target_type = parsed.target_type if parsed is not None else None
    if target_type is None:
        target_type = _str(value.get("type"))
    out.append(
        ReferenceEntry(
            param,
            target_type,
            parsed.target_id if parsed is not None else None,
            parsed.url if parsed is not None else None,
            parsed.version if parsed is not None else None,
            id_system,
            id_value,
        )
    )


def _canonical(param: str, value: Any, out: list[IndexEntry]) -> None:
    if isinstance(value, str) and (parsed := parse_reference(value)) is not None:
        out.append(
            ReferenceEntry(
                param, parsed.target_type, parsed.target_id, parsed.url, parsed.version, None, None
            )
        )


def _resource(param: str, value: Any, out: list[IndexEntry]) -> None:
    # A resource inside another one (Bundle.entry[0].resource): it is the target itself.
    if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
        out.append(
            ReferenceEntry(
                param, value["resourceType"], _str(value.get("id")), None, None, None, None
            )
        )


# -- uri (search.html#uri) -------------------------------------------------------------------


def _uri(param: str, value: Any, out: list[IndexEntry]) -> None:
    if isinstance(value, str) and value:
        out.append(UriEntry(param, value))


# Per search type: element type -> converter. Subtypes inherit (code is a string, Age a
# Quantity, canonical a uri); a pair with no converter yields no entries.
_CONVERTERS: dict[str, dict[str, Converter]] = {
    "string": {
        "string": _string,
        "uri": _string,
        "HumanName": _parts(_NAME_PARTS),
        "Address": _parts(_ADDRESS_PARTS),
    },
    "token": {
        "CodeableConcept": _codeable_concept,
        "Coding": _coding,
        "Identifier": _identifier,
        "ContactPoint": _contact_point,
        "boolean": _token_code,
        "string": _token_code,
        "uri": _token_code,
    },
    "reference": {
        "Reference": _reference,
        "uri": _canonical,
        "Resource": _resource,
    },
    "date": {
        "date": date,
        "dateTime": date,
        "instant": instant,
        "Period": period,
        "Timing": timing,
    },
    "number": {
        "decimal": number,
        "integer": number,
        "Range": number_range,
    },
    "quantity": {
        "Quantity": quantity,
        "Money": money,
        "Range": quantity_range,
    },
    "uri": {
        "uri": _uri,
        "string": _uri,
    },
}


def converter_for(
    param_type: str, element_type: str, code_system: str | None = None
) -> Converter | None:
    """The converter for values of ``element_type`` under a ``param_type`` parameter;
    ``code_system``: the implicit system of ``code`` values (bound to one code system)."""
    if param_type == "token" and element_type == "code" and code_system is not None:
        return _code_in(code_system)
    table = _CONVERTERS.get(param_type)
    if table is None:
        return None
    for type_name in lineage(element_type):
        found = table.get(type_name)
        if found is not None:
            return found
    return None
