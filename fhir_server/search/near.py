"""`Location?near=latitude|longitude|distance|units` (R4 location.html#positional).

Indexed as two number entries per Location with a `position` (its latitude and longitude),
searched as a latitude band AND a longitude band around the point: a bounding box of
`distance` on each side, so a match can lie up to ~41 % further than `distance` at the
box's corners. The box does not wrap across the ±180° meridian.
"""

from __future__ import annotations

import math
from typing import Any

from fhir_server.errors import BadRequest
from fhir_server.search.entries import IndexEntry, NumberEntry
from fhir_server.search.normalize import decimal_number
from fhir_server.search.plan import AllOf, Bound, NumberCondition, RangeMatch
from fhir_server.search.values import split_escaped

__all__ = ["LATITUDE", "LONGITUDE", "near_condition", "near_entries"]

LATITUDE = "near:latitude"
LONGITUDE = "near:longitude"
DEFAULT_KM = 10.0  # when the search names no distance (the spec leaves it to the server)
KM_PER_DEGREE = 111.32
_KM = {"km": 1.0, "m": 0.001, "[mi_i]": 1.609344, "mi": 1.609344}


def near_entries(resource: dict[str, Any], out: list[IndexEntry]) -> None:
    position = resource.get("position")
    if not isinstance(position, dict):
        return
    latitude, longitude = _number(position.get("latitude")), _number(position.get("longitude"))
    if latitude is not None and longitude is not None:
        out.append(NumberEntry(LATITUDE, latitude, latitude))
        out.append(NumberEntry(LONGITUDE, longitude, longitude))


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def near_condition(text: str, name: str) -> AllOf:
    parts = split_escaped(text, "|")
    latitude = decimal_number(parts[0])
    longitude = decimal_number(parts[1]) if len(parts) > 1 else None
    distance = decimal_number(parts[2]) if len(parts) > 2 and parts[2] else DEFAULT_KM
    unit = parts[3] if len(parts) > 3 and parts[3] else "km"
    if (
        latitude is None
        or longitude is None
        or distance is None
        or len(parts) > 4
        or unit not in _KM
    ):
        raise BadRequest(
            f"'{text[:80]}' is not valid for {name}: latitude|longitude[|distance[|units]], "
            "units km, m or [mi_i]",
            (name,),
        )
    km = distance * _KM[unit]
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180 and 0 <= km < 20_000):
        raise BadRequest(f"'{text[:80]}' is out of range for {name}", (name,))
    d_lat = km / KM_PER_DEGREE
    d_lon = km / (KM_PER_DEGREE * max(math.cos(math.radians(latitude)), 1e-6))
    return AllOf((_band(LATITUDE, latitude, d_lat), _band(LONGITUDE, longitude, d_lon)))


def _band(param: str, centre: float, half_width: float) -> NumberCondition:
    bounds = (Bound("low", ">=", centre - half_width), Bound("high", "<=", centre + half_width))
    return NumberCondition(param, (RangeMatch(bounds),))
