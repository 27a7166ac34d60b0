"""Turning typed element values into index entries, per search parameter type.

Which parts of an element a search type matches is set by the tables of
https://hl7.org/fhir/R4/search.html (#string, #token, #reference, #date, #number,
#quantity, #uri). `converter_for` picks, once per compiled expression branch, the function
for a (search type, element type) pair; the FHIRPath engine fallback picks per value with
the same table, so the two paths cannot normalize differently.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fhir_server.search.entries import (
    DATE_MAX,
    DATE_MIN,
    NUMBER_MAX,
    NUMBER_MIN,
    DateEntry,
    IndexEntry,
    NumberEntry,
    QuantityEntry,
    ReferenceEntry,
    StringEntry,
    TokenEntry,
    UriEntry,
)
from fhir_server.search.fhirtypes import lineage
from fhir_server.search.normalize import (
    date_range,
    decimal_range,
    fold,
    instant_point,
    parse_reference,
)
from fhir_server.search.ucum import UCUM_SYSTEM, canonical_unit

__all__ = ["Converter", "converter_for"]

Converter = Callable[[str, Any, list[IndexEntry]], None]
"""``(param code, element value, output list)``: appends the value's entries."""

_ISO_4217 = "urn:iso:std:iso:4217"


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


def _contact_point(param: str, value: Any, out: list[IndexEntry]) -> None:
    # search.html#token: a ContactPoint matches on its value; its system is not a URI.
    if isinstance(value, dict) and (code := _str(value.get("value"))) is not None:
        out.append(TokenEntry(param, None, code, None))


def _token_code(param: str, value: Any, out: list[IndexEntry]) -> None:
    if isinstance(value, bool):
        out.append(TokenEntry(param, None, "true" if value else "false", None))
    elif isinstance(value, str) and value:
        out.append(TokenEntry(param, None, value, None))


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


# -- date (search.html#date) -----------------------------------------------------------------


def _date(param: str, value: Any, out: list[IndexEntry]) -> None:
    if isinstance(value, str) and (found := date_range(value)) is not None:
        out.append(DateEntry(param, found[0], found[1]))


def _instant(param: str, value: Any, out: list[IndexEntry]) -> None:
    if isinstance(value, str) and (found := instant_point(value)) is not None:
        out.append(DateEntry(param, found[0], found[1]))


def _period_bounds(value: Any) -> tuple[int, int] | None:
    if not isinstance(value, dict):
        return None
    start = date_range(value["start"]) if isinstance(value.get("start"), str) else None
    end = date_range(value["end"]) if isinstance(value.get("end"), str) else None
    if start is None and end is None:
        return None
    # An absent start or end is open: the period runs from/to the end of time.
    return (DATE_MIN if start is None else start[0]), (DATE_MAX if end is None else end[1])


def _period(param: str, value: Any, out: list[IndexEntry]) -> None:
    if (bounds := _period_bounds(value)) is not None:
        out.append(DateEntry(param, bounds[0], bounds[1]))


def _timing(param: str, value: Any, out: list[IndexEntry]) -> None:
    # One range over every event and the repeat's bounding period.
    if not isinstance(value, dict):
        return
    ranges: list[tuple[int, int]] = []
    events = value.get("event")
    if isinstance(events, list):
        ranges += [r for e in events if isinstance(e, str) and (r := date_range(e)) is not None]
    repeat = value.get("repeat")
    if isinstance(repeat, dict) and (bounds := _period_bounds(repeat.get("boundsPeriod"))):
        ranges.append(bounds)
    if ranges:
        out.append(DateEntry(param, min(r[0] for r in ranges), max(r[1] for r in ranges)))


# -- number and quantity (search.html#number, #quantity) -------------------------------------


def _number(param: str, value: Any, out: list[IndexEntry]) -> None:
    if isinstance(value, int | float | Decimal | str) and (found := decimal_range(value)):
        out.append(NumberEntry(param, found[0], found[1]))


def _range_bounds(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, dict):
        return None
    low, high = value.get("low"), value.get("high")
    low_range = decimal_range(low.get("value")) if isinstance(low, dict) else None
    high_range = decimal_range(high.get("value")) if isinstance(high, dict) else None
    if low_range is None and high_range is None:
        return None
    return (
        NUMBER_MIN if low_range is None else low_range[0],
        NUMBER_MAX if high_range is None else high_range[1],
    )


def _number_range(param: str, value: Any, out: list[IndexEntry]) -> None:
    if (bounds := _range_bounds(value)) is not None:
        out.append(NumberEntry(param, bounds[0], bounds[1]))


def _quantity_entry(
    param: str, low: float, high: float, system: str | None, code: str | None, unit: str | None
) -> QuantityEntry:
    canonical = canonical_unit(code) if system == UCUM_SYSTEM and code is not None else None
    if canonical is None:
        return QuantityEntry(param, low, high, system, code, unit, None, None, None)
    c_low = _scaled(low, canonical.factor, canonical.offset)
    c_high = _scaled(high, canonical.factor, canonical.offset)
    return QuantityEntry(param, low, high, system, code, unit, c_low, c_high, canonical.code)


def _scaled(value: float, factor: float, offset: float) -> float:
    if value in (NUMBER_MIN, NUMBER_MAX):
        return value  # an open end stays open
    # 15 significant digits: 64.745 kg is 64745 g, not 64745.00000000001 g, so that a
    # query canonicalized the same way compares equal.
    return float(f"{value * factor + offset:.15g}")


def _quantity(param: str, value: Any, out: list[IndexEntry]) -> None:
    if not isinstance(value, dict) or (found := decimal_range(value.get("value"))) is None:
        return
    low, high = found
    comparator = value.get("comparator")
    # A stated comparator opens the range: "<5" is anything below 5 (search.html#quantity).
    if comparator in ("<", "<="):
        low = NUMBER_MIN
    elif comparator in (">", ">="):
        high = NUMBER_MAX
    system, code = _str(value.get("system")), _str(value.get("code"))
    out.append(_quantity_entry(param, low, high, system, code, _str(value.get("unit"))))


def _money(param: str, value: Any, out: list[IndexEntry]) -> None:
    if isinstance(value, dict) and (found := decimal_range(value.get("value"))) is not None:
        currency = _str(value.get("currency"))
        system = None if currency is None else _ISO_4217
        out.append(
            QuantityEntry(param, found[0], found[1], system, currency, None, None, None, None)
        )


def _quantity_range(param: str, value: Any, out: list[IndexEntry]) -> None:
    if (bounds := _range_bounds(value)) is None:
        return
    low, high = value.get("low"), value.get("high")
    unit_source = low if isinstance(low, dict) and low.get("value") is not None else high
    unit_source = unit_source if isinstance(unit_source, dict) else {}
    system, code = _str(unit_source.get("system")), _str(unit_source.get("code"))
    entry = _quantity_entry(
        param, bounds[0], bounds[1], system, code, _str(unit_source.get("unit"))
    )
    out.append(entry)


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
        "date": _date,
        "dateTime": _date,
        "instant": _instant,
        "Period": _period,
        "Timing": _timing,
    },
    "number": {
        "decimal": _number,
        "integer": _number,
        "Range": _number_range,
    },
    "quantity": {
        "Quantity": _quantity,
        "Money": _money,
        "Range": _quantity_range,
    },
    "uri": {
        "uri": _uri,
        "string": _uri,
    },
}


def converter_for(param_type: str, element_type: str) -> Converter | None:
    """The converter for values of ``element_type`` under a ``param_type`` parameter."""
    table = _CONVERTERS.get(param_type)
    if table is None:
        return None
    for type_name in lineage(element_type):
        found = table.get(type_name)
        if found is not None:
            return found
    return None
