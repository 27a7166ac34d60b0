"""Converters for the range-valued search types: date, number and quantity.

Each stored value becomes an inclusive range, so that every prefix of
https://hl7.org/fhir/R4/search.html#prefix is a comparison on its ends: dates keep the
precision of their text (#date), numbers and quantities that of their decimal (#number,
#quantity), and open ends (a Period without end, a Range without high, a Quantity with a
comparator) reach the `entries` sentinels.
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
)
from fhir_server.search.normalize import date_range, decimal_range, instant_point
from fhir_server.search.ucum import UCUM_SYSTEM, canonical_unit

__all__ = [
    "Converter",
    "date",
    "instant",
    "money",
    "number",
    "number_range",
    "period",
    "quantity",
    "quantity_range",
    "timing",
]

Converter = Callable[[str, Any, list[IndexEntry]], None]
"""``(param code, element value, output list)``: appends the value's entries."""

_ISO_4217 = "urn:iso:std:iso:4217"


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# -- date (search.html#date) -----------------------------------------------------------------


def date(param: str, value: Any, out: list[IndexEntry]) -> None:
    if isinstance(value, str) and (found := date_range(value)) is not None:
        out.append(DateEntry(param, found[0], found[1]))


def instant(param: str, value: Any, out: list[IndexEntry]) -> None:
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


def period(param: str, value: Any, out: list[IndexEntry]) -> None:
    if (bounds := _period_bounds(value)) is not None:
        out.append(DateEntry(param, bounds[0], bounds[1]))


def timing(param: str, value: Any, out: list[IndexEntry]) -> None:
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


def number(param: str, value: Any, out: list[IndexEntry]) -> None:
    if isinstance(value, int | float | Decimal | str) and (found := decimal_range(value)):
        out.append(NumberEntry(param, found[0], found[1]))


def _range_bounds(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, dict):
        return None
    # A Range's ends are its limits as stated (a Range 5..5 is exactly 5, contained by
    # `eq5`), not widened by their precision as a stated value is.
    low, high = value.get("low"), value.get("high")
    low_end = _stated(low.get("value")) if isinstance(low, dict) else None
    high_end = _stated(high.get("value")) if isinstance(high, dict) else None
    if low_end is None and high_end is None:
        return None
    return (
        NUMBER_MIN if low_end is None else low_end,
        NUMBER_MAX if high_end is None else high_end,
    )


def _stated(value: Any) -> float | None:
    """A decimal's value, if it is one a range can hold."""
    return None if decimal_range(value) is None else float(value)


def number_range(param: str, value: Any, out: list[IndexEntry]) -> None:
    if (bounds := _range_bounds(value)) is not None:
        out.append(NumberEntry(param, bounds[0], bounds[1], is_range=True))


def _quantity_entry(
    param: str,
    low: float,
    high: float,
    system: str | None,
    code: str | None,
    unit: str | None,
    is_range: bool,
) -> QuantityEntry:
    canonical = canonical_unit(code) if system == UCUM_SYSTEM and code is not None else None
    if canonical is None:
        return QuantityEntry(param, low, high, system, code, unit, None, None, None, is_range)
    c_low = _scaled(low, canonical.factor, canonical.offset)
    c_high = _scaled(high, canonical.factor, canonical.offset)
    return QuantityEntry(
        param, low, high, system, code, unit, c_low, c_high, canonical.code, is_range
    )


def _scaled(value: float, factor: float, offset: float) -> float:
    if value in (NUMBER_MIN, NUMBER_MAX):
        return value  # an open end stays open
    # 15 significant digits: 64.745 kg is 64745 g, not 64745.00000000001 g, so that a
    # query canonicalized the same way compares equal.
    return float(f"{value * factor + offset:.15g}")


def quantity(param: str, value: Any, out: list[IndexEntry]) -> None:
    if not isinstance(value, dict) or (found := decimal_range(value.get("value"))) is None:
        return
    low, high = found
    comparator = value.get("comparator")
    # A stated comparator opens the range at the stated value: "<5" is anything below 5
    # (search.html#quantity), so it does not meet `gt5`. (Ranges are closed: "<5" and
    # "<=5" both end at 5, and both meet `ge5`.)
    if comparator in ("<", "<="):
        low, high = NUMBER_MIN, float(value["value"])
    elif comparator in (">", ">="):
        low, high = float(value["value"]), NUMBER_MAX
    system, code = _str(value.get("system")), _str(value.get("code"))
    unit = _str(value.get("unit"))
    opened = comparator in ("<", "<=", ">", ">=")
    out.append(_quantity_entry(param, low, high, system, code, unit, opened))


def money(param: str, value: Any, out: list[IndexEntry]) -> None:
    if isinstance(value, dict) and (found := decimal_range(value.get("value"))) is not None:
        currency = _str(value.get("currency"))
        system = None if currency is None else _ISO_4217
        out.append(
            QuantityEntry(param, found[0], found[1], system, currency, None, None, None, None)
        )


def quantity_range(param: str, value: Any, out: list[IndexEntry]) -> None:
    if (bounds := _range_bounds(value)) is None:
        return
    low, high = value.get("low"), value.get("high")
    unit_source = low if isinstance(low, dict) and low.get("value") is not None else high
    unit_source = unit_source if isinstance(unit_source, dict) else {}
    system, code = _str(unit_source.get("system")), _str(unit_source.get("code"))
    entry = _quantity_entry(
        param, bounds[0], bounds[1], system, code, _str(unit_source.get("unit")), True
    )
    out.append(entry)
