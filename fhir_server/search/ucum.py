"""Canonical UCUM units for quantity search (https://hl7.org/fhir/R4/search.html#quantity).

"Servers SHOULD canonicalize UCUM units": ``5.4 mg/dL`` and ``54 mg/L`` are one amount.
This is a deliberately small subset of UCUM (https://ucum.org/ucum): the base units, the
SI prefixes, and the atoms clinical data actually carries (mass, length, volume, time,
amount of substance, pressure, temperature, percent, counts), combined with ``.``, ``/``
and integer exponents. A unit outside it has no canonical form (the entry keeps the unit as
stated), which is what search.html allows.

The canonical form uses UCUM's base units (``g``, ``m``, ``s``, ``K``, ``mol``) with
exponents: ``mg/dL`` -> value x 10 in ``g.m-3``; ``[lb_av]`` -> value x 453.59237 in
``g``; ``%`` -> value x 0.01 in ``1``. Query values are canonicalized by the same function.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from fhir_server.text import is_ascii_digits

__all__ = ["UCUM_SYSTEM", "Canonical", "canonical_unit"]

UCUM_SYSTEM = "http://unitsofmeasure.org"

_PREFIXES = {
    "Y": 1e24,
    "Z": 1e21,
    "E": 1e18,
    "P": 1e15,
    "T": 1e12,
    "G": 1e9,
    "M": 1e6,
    "k": 1e3,
    "h": 1e2,
    "da": 1e1,
    "d": 1e-1,
    "c": 1e-2,
    "m": 1e-3,
    "u": 1e-6,
    "n": 1e-9,
    "p": 1e-12,
    "f": 1e-15,
    "a": 1e-18,
    "z": 1e-21,
    "y": 1e-24,
}

Dimensions = tuple[tuple[str, int], ...]

# atom -> (factor to the base units, base-unit exponents, takes SI prefixes)
_ATOMS: dict[str, tuple[float, Dimensions, bool]] = {
    "g": (1.0, (("g", 1),), True),
    "m": (1.0, (("m", 1),), True),
    "s": (1.0, (("s", 1),), True),
    "K": (1.0, (("K", 1),), True),
    "mol": (1.0, (("mol", 1),), True),
    "eq": (1.0, (("mol", 1),), True),
    "L": (1e-3, (("m", 3),), True),
    "l": (1e-3, (("m", 3),), True),
    "min": (60.0, (("s", 1),), False),
    "h": (3600.0, (("s", 1),), False),
    "d": (86400.0, (("s", 1),), False),
    "wk": (604800.0, (("s", 1),), False),
    "mo": (2629800.0, (("s", 1),), False),  # mean Julian month
    "a": (31557600.0, (("s", 1),), False),  # Julian year
    "Hz": (1.0, (("s", -1),), True),
    "Pa": (1000.0, (("g", 1), ("m", -1), ("s", -2)), True),
    "bar": (1e8, (("g", 1), ("m", -1), ("s", -2)), True),
    "m[Hg]": (133322000.0, (("g", 1), ("m", -1), ("s", -2)), True),
    "m[H2O]": (9806650.0, (("g", 1), ("m", -1), ("s", -2)), True),
    "J": (1000.0, (("g", 1), ("m", 2), ("s", -2)), True),
    "cal": (4184.0, (("g", 1), ("m", 2), ("s", -2)), True),
    "[Cal]": (4184000.0, (("g", 1), ("m", 2), ("s", -2)), False),
    "kat": (1.0, (("mol", 1), ("s", -1)), True),
    "U": (1e-6 / 60.0, (("mol", 1), ("s", -1)), True),
    "[iU]": (1.0, (("[iU]", 1),), True),
    "[IU]": (1.0, (("[iU]", 1),), True),
    "[lb_av]": (453.59237, (("g", 1),), False),
    "[oz_av]": (28.349523125, (("g", 1),), False),
    "[in_i]": (0.0254, (("m", 1),), False),
    "[ft_i]": (0.3048, (("m", 1),), False),
    "[mi_i]": (1609.344, (("m", 1),), False),
    "%": (0.01, (), False),
    "[ppm]": (1e-6, (), False),
    "[ppb]": (1e-9, (), False),
}

# Units with an offset (value -> factor * value + offset, in K); they cannot be combined.
_SPECIAL = {"Cel": (1.0, 273.15), "[degF]": (5.0 / 9.0, 273.15 - 32.0 * 5.0 / 9.0)}

_TERM = re.compile(
    r"(?P<unit>[^.{}/0-9+-][^.{}/]*?|10[*^][+-]?[0-9]{1,4}|[0-9]{1,30})?(?P<exp>[+-]?[0-9]{1,4})?"
    r"(?:\{[^}]*\})?"
)


@dataclass(frozen=True, slots=True)
class Canonical:
    """``canonical = value * factor + offset``, expressed in ``code``."""

    factor: float
    offset: float
    code: str


def _atom(symbol: str) -> tuple[float, Dimensions] | None:
    found = _ATOMS.get(symbol)
    if found is not None:
        return found[0], found[1]
    for size in (2, 1):
        prefix, rest = symbol[:size], symbol[size:]
        scale = _PREFIXES.get(prefix)
        atom = _ATOMS.get(rest)
        if scale is not None and atom is not None and atom[2]:
            return scale * atom[0], atom[1]
    return None


def _term(text: str) -> tuple[float, dict[str, int]] | None:
    match = _TERM.fullmatch(text)
    if match is None:
        return None
    unit, exp_text = match.group("unit"), match.group("exp")
    exponent = int(exp_text) if exp_text else 1
    if not text:
        return None
    if unit is None:
        # A bare annotation ``{score}`` is the unity; a bare number is a factor.
        return (1.0, {}) if exp_text is None else (float(exp_text), {})
    if is_ascii_digits(unit):
        return float(unit) ** exponent, {}
    if unit[:3] in ("10*", "10^"):
        return 10.0 ** (int(unit[3:]) * exponent), {}
    atom = _atom(unit)
    if atom is None:
        return None
    factor, dims = atom
    return factor**exponent, {name: power * exponent for name, power in dims}


def _code(dims: dict[str, int]) -> str:
    parts = [
        name if power == 1 else f"{name}{power}" for name, power in sorted(dims.items()) if power
    ]
    return ".".join(parts) or "1"


@lru_cache(maxsize=1024)
def canonical_unit(code: str) -> Canonical | None:
    """The canonical form of a UCUM unit code, or None outside the supported subset."""
    code = code.strip()
    special = _SPECIAL.get(code)
    if special is not None:
        return Canonical(special[0], special[1], "K")
    if not code or "(" in code or " " in code:
        return None
    factor = 1.0
    dims: dict[str, int] = {}
    # UCUM's "/" divides by the next term only: "mL/min/{1.73_m2}" is mL . min-1 . 1-1.
    try:
        for sign, piece in _terms(code):
            term = _term(piece)
            if term is None:
                return None
            term_factor, term_dims = term
            factor *= term_factor**sign
            for name, power in term_dims.items():
                dims[name] = dims.get(name, 0) + sign * power
    except (OverflowError, ZeroDivisionError):
        return None  # `10*999`: no finite factor; the unit is then compared as written
    if not math.isfinite(factor) or factor == 0.0:
        return None
    # 15 significant digits drop the float noise of products like 10*3/uL (1e12, not
    # 999999999999.9999), so equal units always give bit-identical canonical values.
    return Canonical(float(f"{factor:.15g}"), 0.0, _code(dims))


def _terms(code: str) -> list[tuple[int, str]]:
    """Split at the "." and "/" outside annotations into (+1 or -1, term) pairs."""
    terms: list[tuple[int, str]] = []
    sign, start, depth = 1, 0, 0
    if code.startswith("/"):  # "/min": a leading division divides the unity
        sign, start = -1, 1
    for index in range(start, len(code)):
        char = code[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif depth == 0 and char in "./":
            terms.append((sign, code[start:index]))
            sign, start = (1 if char == "." else -1), index + 1
    terms.append((sign, code[start:]))
    return terms
