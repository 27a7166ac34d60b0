"""Index entries: the normalized search values extracted from a resource at write time.

Every storage adapter stores these beside the resource and answers searches from them, so
their shape is a contract: frozen, slotted, hashable, made of plain ``str``/``int``/``float``
/``None`` (and tuples of ``str`` for composites) so that any backend can store them as a row
or as an array element.

Each kind follows one R4 search type (https://hl7.org/fhir/R4/search.html#ptypes):

- `StringEntry`    search.html#string    -- folded value for starts-with/contains, exact text
- `TokenEntry`     search.html#token     -- system, code, folded text for ``:text``
- `ReferenceEntry` search.html#reference -- type/id, absolute or canonical url (+version),
  and the logical ``Reference.identifier`` for ``:identifier``
- `DateEntry`      search.html#date      -- inclusive range in microseconds since the epoch
- `NumberEntry`    search.html#number    -- inclusive range implied by the decimal precision
- `QuantityEntry`  search.html#quantity  -- as stated, and in canonical UCUM units
- `UriEntry`       search.html#uri
- `CompositeEntry` search.html#composite -- one tuple of component keys per combination

Composite component keys are tuples of strings so that one column/array type holds every
component kind. Numbers and instants inside them are written with `float_key` and `int_key`,
which are fixed-width strings whose byte order is the numeric order; a range comparison on
a component is therefore a plain string comparison in SQL and in MongoDB. For example
``code-value-quantity=http://loinc.org|8480-6$gt100`` matches a `CompositeEntry` with
``components[0] == ("http://loinc.org", "8480-6")`` (or only ``components[0][1]`` when the
query gives no system) and ``components[1][QUANTITY_HIGH] > float_key(100.5)``: R4's ``gt``
asks whether any part of the stored range lies above the value, whose implied range is
[99.5, 100.5] (search.html#prefix). The layouts are given by the ``*_KEY_FIELDS`` constants.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "DATE_KEY_FIELDS",
    "DATE_MAX",
    "DATE_MIN",
    "NUMBER_KEY_FIELDS",
    "NUMBER_MAX",
    "NUMBER_MIN",
    "QUANTITY_HIGH",
    "QUANTITY_KEY_FIELDS",
    "QUANTITY_LOW",
    "REFERENCE_KEY_FIELDS",
    "STRING_KEY_FIELDS",
    "TOKEN_KEY_FIELDS",
    "URI_KEY_FIELDS",
    "CompositeEntry",
    "DateEntry",
    "IndexEntry",
    "NumberEntry",
    "QuantityEntry",
    "ReferenceEntry",
    "StringEntry",
    "TokenEntry",
    "UriEntry",
    "float_key",
    "int_key",
]

# Open ends of a Period (and of ranges with a comparator). They are the int64 limits, so
# every backend that stores 64-bit integers (SQLite INTEGER, BSON int64) holds them as is.
DATE_MIN = -(2**63)
DATE_MAX = 2**63 - 1

# Open ends of a Range, or of a Quantity with a comparator (``<5``). Finite on purpose:
# JSON encoders (orjson among them) turn infinities into ``null``.
NUMBER_MIN = -1.7976931348623157e308
NUMBER_MAX = 1.7976931348623157e308


@dataclass(frozen=True, slots=True)
class StringEntry:
    """search.html#string: ``value`` is accent-stripped and casefolded, ``exact`` verbatim."""

    param: str
    value: str
    exact: str


@dataclass(frozen=True, slots=True)
class TokenEntry:
    """search.html#token: ``system|code``, and ``text`` (folded) for the ``:text`` modifier."""

    param: str
    system: str | None
    code: str | None
    text: str | None


@dataclass(frozen=True, slots=True)
class ReferenceEntry:
    """search.html#reference: a literal, absolute, canonical or logical reference."""

    param: str
    target_type: str | None
    target_id: str | None
    url: str | None
    version: str | None
    identifier_system: str | None
    identifier_value: str | None


@dataclass(frozen=True, slots=True)
class DateEntry:
    """search.html#date: inclusive [low, high] in UTC microseconds since the Unix epoch."""

    param: str
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class NumberEntry:
    """search.html#number: inclusive [low, high] implied by the precision of the value, or
    the range itself (`is_range`: a Range), which prefixes compare by its ends."""

    param: str
    low: float
    high: float
    is_range: bool = False


@dataclass(frozen=True, slots=True)
class QuantityEntry:
    """search.html#quantity: the stated range and unit, plus the canonical UCUM form."""

    param: str
    low: float
    high: float
    system: str | None
    code: str | None
    unit: str | None
    canonical_low: float | None
    canonical_high: float | None
    canonical_code: str | None
    is_range: bool = False  # a Range, or a value with a comparator (`<5`): see NumberEntry


@dataclass(frozen=True, slots=True)
class UriEntry:
    """search.html#uri: the URI as stated (``:below``/``:above`` compare prefixes of it)."""

    param: str
    value: str


@dataclass(frozen=True, slots=True)
class CompositeEntry:
    """search.html#composite: one combination of component keys from one element instance.

    ``components[i]`` is the key of the i-th component in the layout of its type:
    `TOKEN_KEY_FIELDS`, `QUANTITY_KEY_FIELDS`, `DATE_KEY_FIELDS`, `NUMBER_KEY_FIELDS`,
    `STRING_KEY_FIELDS`, `REFERENCE_KEY_FIELDS` or `URI_KEY_FIELDS`. Absent parts are "".
    """

    param: str
    components: tuple[tuple[str, ...], ...]


IndexEntry = (
    StringEntry
    | TokenEntry
    | ReferenceEntry
    | DateEntry
    | NumberEntry
    | QuantityEntry
    | UriEntry
    | CompositeEntry
)

# Layouts of composite component keys (position -> meaning).
TOKEN_KEY_FIELDS = ("system", "code")
QUANTITY_KEY_FIELDS = (
    "low",
    "high",
    "system",
    "code",
    "canonical_low",
    "canonical_high",
    "canonical_code",
    "value",  # the stated value (the middle of [low, high]): prefixes compare with it
    "canonical_value",
)
QUANTITY_LOW = 0
QUANTITY_HIGH = 1
DATE_KEY_FIELDS = ("low", "high")
NUMBER_KEY_FIELDS = ("low", "high", "value")
STRING_KEY_FIELDS = ("value", "exact")
REFERENCE_KEY_FIELDS = ("target_type", "target_id", "url", "version")
URI_KEY_FIELDS = ("value",)

_SIGN_BIT = 1 << 63
_ALL_BITS = (1 << 64) - 1


def float_key(value: float) -> str:
    """Encode a float as 16 hex digits whose string order is the numeric order.

    IEEE-754 bit patterns sort like sign-magnitude integers: setting the sign bit of
    positives and inverting every bit of negatives makes them sort as unsigned integers.
    """
    (bits,) = struct.unpack(">Q", struct.pack(">d", value + 0.0))  # +0.0 folds -0.0 into 0.0
    bits = bits ^ _ALL_BITS if bits & _SIGN_BIT else bits | _SIGN_BIT
    return f"{bits:016x}"


def int_key(value: int) -> str:
    """Encode an int64 (a `DateEntry` bound) as 16 hex digits in numeric string order."""
    return f"{(value + _SIGN_BIT) & _ALL_BITS:016x}"
