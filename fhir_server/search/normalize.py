"""Normalization of single values into the forms index entries hold.

Each function here is shared by the write side (the indexer) and the query side, so that a
stored value and a searched value are normalized by one definition:

- `fold` for string search (https://hl7.org/fhir/R4/search.html#string): "case- and
  accent-insensitive" -- NFKD decomposition, combining marks dropped, casefolded;
- `date_range` / `instant_point` for date search (search.html#date): an inclusive
  microsecond range that keeps the precision of the text;
- `decimal_range` for number and quantity search (search.html#number): the range implied
  by the significant digits of the value;
- `parse_reference` for reference search (search.html#reference).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from fhir_server.instants import parse_fhir_datetime_range
from fhir_server.search.fhirtypes import RESOURCE_TYPES

__all__ = [
    "ParsedReference",
    "date_range",
    "decimal_number",
    "decimal_range",
    "fold",
    "instant_point",
    "parse_reference",
]


def fold(text: str) -> str:
    """Accent-stripped, casefolded ``text``: ``"Müller"`` -> ``"muller"``."""
    if text.isascii():
        return text.lower()  # casefold() and lower() agree on ASCII; skip the NFKD pass
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def date_range(text: str) -> tuple[int, int] | None:
    """[low, high] in microseconds for a date/dateTime, at the precision of ``text``.

    ``2020`` covers the whole year, ``2020-03-01T10:00`` the minute; a dateTime without a
    time zone is taken as UTC. The query side parses its values with the same function
    (`fhir_server.instants.parse_fhir_datetime_range`), so the two always agree.
    """
    return parse_fhir_datetime_range(text)


def instant_point(text: str) -> tuple[int, int] | None:
    """An ``instant`` is a point in time: low == high (search.html#date)."""
    found = parse_fhir_datetime_range(text)
    return None if found is None else (found[0], found[0])


def decimal_number(text: str) -> float | None:
    """The number a search value's decimal text names (datatypes.html#decimal: ASCII
    digits, an optional fraction and exponent), else None. `float()` alone would also read
    "1_000", " 1", "nan" and other scripts' digits."""
    text = text.strip()
    if not _DECIMAL.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def decimal_range(value: object) -> tuple[float, float] | None:
    """[low, high] implied by the precision of a decimal (search.html#number).

    ``100`` -> [99.5, 100.5] and ``100.0`` -> [99.95, 100.05]: half a unit of the last
    digit either side. ``value`` may be an ``int``, a ``float``, a ``Decimal`` or the
    decimal's JSON text. orjson (and ``json`` by default) parse ``100.0`` into a float
    whose shortest repr, ``'100.0'``, keeps that precision, but they lose trailing zeros
    beyond the first (``100.50`` reads back as ``100.5``): the range is then wider than
    the source's, so a search can over-match but never misses. Callers that need the exact
    precision parse with ``json.loads(..., parse_float=Decimal)`` and pass Decimals.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value - 0.5, value + 0.5
    try:
        if isinstance(value, float):
            number = Decimal(repr(value))
        elif isinstance(value, Decimal):
            number = value
        elif isinstance(value, str):
            if not _DECIMAL.fullmatch(value.strip()):
                return None  # Decimal() also reads "1_000", ".5" and other scripts' digits
            number = Decimal(value.strip())
        else:
            return None
    except InvalidOperation:
        return None
    exponent = number.as_tuple().exponent
    if not isinstance(exponent, int):  # NaN or Infinity
        return None
    try:
        half = Decimal(5).scaleb(exponent - 1)
        low, high = float(number - half), float(number + half)
    except (InvalidOperation, OverflowError):  # an exponent past what Decimal computes
        return None
    if not (math.isfinite(low) and math.isfinite(high)):
        return None  # past a float's range: no value can be compared with it
    return low, high


@dataclass(frozen=True, slots=True)
class ParsedReference:
    """The parts of a reference string; see `parse_reference`."""

    target_type: str | None
    target_id: str | None
    url: str | None
    version: str | None


_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# A decimal's text (datatypes.html#decimal), leading zeros tolerated in a search value.
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_HISTORY = "/_history/"


def _type_and_id(segments: list[str]) -> tuple[str | None, str | None]:
    if len(segments) >= 2 and segments[-2] in RESOURCE_TYPES and _ID.fullmatch(segments[-1]):
        return segments[-2], segments[-1]
    return None, None


@lru_cache(maxsize=8192)  # the same subject/encounter recurs across many resources
def parse_reference(text: str) -> ParsedReference | None:
    """Split a reference string (search.html#reference, references.html#literal).

    - ``#id`` (a contained resource) -> None: it is not a search target of its own;
    - ``Patient/123`` (and ``Patient/123/_history/2``) -> type, id (and version);
    - ``http://server/fhir/Patient/123`` -> the url and the type, never the id (below);
    - ``http://x/ValueSet/vs|1.0`` (a canonical with a version) -> url and version;
    - ``urn:uuid:...``, ``urn:oid:...``, a conditional reference ``Patient?identifier=...``
      (which a transaction resolves before indexing) and anything else -> the url only.
    """
    text = text.strip()
    if not text or text.startswith("#"):
        return None
    version: str | None = None
    if "?" in text:
        # A conditional reference (``Patient?identifier=s|v``) left unresolved: its "|"
        # belongs to the query, not to a canonical version.
        return ParsedReference(None, None, text, None)
    if "|" in text:
        text, _, version = text.partition("|")
        version = version or None
    elif _HISTORY in text:
        text, _, version = text.partition(_HISTORY)
        version = version or None
    if text.startswith("urn:"):
        return ParsedReference(None, None, text, version)
    segments = text.split("/")
    target_type, target_id = _type_and_id(segments)
    if "://" in text:
        # An absolute URL names a resource on *some* server: it is never taken for the
        # local Patient/123 (that would file another server's or tenant's data in this
        # patient's compartment). Its type is kept: `where(resolve() is Patient)` reads it.
        # Searches for this server's own absolute URLs become local ones on the query side.
        return ParsedReference(target_type, None, text, version)
    if target_type is not None and len(segments) == 2:
        return ParsedReference(target_type, target_id, None, version)
    return ParsedReference(None, None, text, version)
