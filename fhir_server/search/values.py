"""Search value syntax shared by every parameter type (http://hl7.org/fhir/R4/search.html).

Commas separate ORed values, `|` separates token parts, `$` composite parts; a backslash
escapes each of them (search.html#escaping).
"""

from __future__ import annotations

from typing import Literal

from fhir_server.errors import BadRequest
from fhir_server.instants import now_us, parse_fhir_datetime_range
from fhir_server.search.normalize import decimal_range
from fhir_server.search.plan import Bound, RangeMatch, TokenMatch

__all__ = [
    "PREFIXES",
    "date_match",
    "number_match",
    "point_bounds",
    "split_escaped",
    "split_prefix",
    "token_match",
    "unescape",
]

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
Prefix = Literal["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]


def split_escaped(text: str, separator: str) -> list[str]:
    """Split on `separator` where it is not escaped by a backslash; unescape `\\,` `\\|`
    `\\$` and `\\\\` in the parts."""
    parts: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if escaped in (",", "|", "$", "\\"):
                if escaped == separator:
                    current.append(escaped)
                else:
                    current.append("\\" + escaped)
            else:
                current.append("\\" + escaped)
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def unescape(text: str) -> str:
    for char in (",", "|", "$"):
        text = text.replace("\\" + char, char)
    return text.replace("\\\\", "\\")


def split_prefix(text: str) -> tuple[Prefix, str]:
    """`ge2020` → ("ge", "2020"); no prefix means eq."""
    head = text[:2]
    if len(text) > 2 and head in PREFIXES and not head[0].isdigit():
        return head, text[2:]  # type: ignore[return-value]
    return "eq", text


def token_match(text: str) -> TokenMatch:
    """`[system]|[code]`, `|code`, `system|` or `code`."""
    parts = split_escaped(text, "|")
    if len(parts) == 1:
        return TokenMatch(system=None, code=unescape(parts[0]) or None, system_given=False)
    if len(parts) > 2:
        raise BadRequest(f"A token has at most one unescaped '|': '{text[:80]}'")
    system, code = (unescape(p) for p in parts)
    return TokenMatch(system=system or None, code=code or None, system_given=True)


def range_bounds(prefix: Prefix, low: float, high: float, gap: float) -> RangeMatch:
    """Bounds that a resource range [rlow, rhigh] must satisfy for `prefix` against the
    search range [low, high] (search.html#prefix). For a point value, rlow = rhigh."""

    def b(end: Literal["low", "high"], op: Literal["<", "<=", ">", ">="], v: float) -> Bound:
        return Bound(end, op, v)

    if prefix == "eq":
        return RangeMatch((b("low", ">=", low), b("high", "<=", high)))
    if prefix == "ne":
        return RangeMatch((b("low", ">=", low), b("high", "<=", high)), negated=True)
    if prefix == "gt":
        return RangeMatch((b("high", ">", high),))
    if prefix == "lt":
        return RangeMatch((b("low", "<", low),))
    if prefix == "ge":
        return RangeMatch((b("high", ">=", low),))
    if prefix == "le":
        return RangeMatch((b("low", "<=", high),))
    if prefix == "sa":
        return RangeMatch((b("low", ">", high),))
    if prefix == "eb":
        return RangeMatch((b("high", "<", low),))
    return RangeMatch((b("high", ">=", low - gap), b("low", "<=", high + gap)))  # ap


def date_match(param: str, text: str) -> RangeMatch:
    """A date search value with its prefix, as bounds in microseconds."""
    prefix, value = split_prefix(text)
    found = parse_fhir_datetime_range(value)
    if found is None:
        raise BadRequest(
            f"'{text[:80]}' is not a valid date for {param}: expected [prefix]YYYY[-MM[-DD"
            "[Thh:mm[:ss[.fff]][Z|+hh:mm]]]], prefix one of " + " ".join(PREFIXES),
            (param,),
        )
    low, high = found
    gap = abs(now_us() - low) // 10  # `ap`: within 10% of the distance to now
    match = range_bounds(prefix, low, high, gap)
    return RangeMatch(tuple(Bound(b.end, b.op, int(b.value)) for b in match.bounds), match.negated)


def number_match(param: str, text: str) -> RangeMatch:
    """A number search value: `eq`/`ne`/`ap` compare the resource's stated value (the
    midpoint of its indexed precision range) with the search value's precision range;
    the ordering prefixes compare it with the stated search value (search.html#number)."""
    prefix, value = split_prefix(text)
    found = decimal_range(value)
    if found is None:
        raise BadRequest(
            f"'{text[:80]}' is not a valid number for {param}: expected [prefix]decimal",
            (param,),
        )
    return point_bounds(prefix, float(value), found[0], found[1])


_FLOAT_NOISE = 1e-14  # relative: a hundred times a double's own rounding (about 1.1e-16)


def point_bounds(prefix: Prefix, value: float, low: float, high: float) -> RangeMatch:
    # A true range in the index is contained (eq, ne) by its ends, or met by the end
    # facing the search value (gt, ge, lt, le, ap).
    def mid(op: Literal["<", "<=", ">", ">="], bound: float, end: Literal["low", "high"]) -> Bound:
        # A stated value's middle is computed from its range in floating point, a hair
        # off the value ((0.55 + 0.65) / 2 is 0.6000000000000001; 5 mg in grams comes out
        # 0.004999999999999999): the bound moves by far less than any decimal's precision
        # so that such noise counts as equal, never as above or below.
        noise = abs(bound) * _FLOAT_NOISE
        return Bound("mid", op, bound + noise if op in (">", "<=") else bound - noise, end)

    if prefix in ("eq", "ne"):
        if high - low <= 4 * abs(value) * _FLOAT_NOISE:
            # a precision finer than a double holds (123456789.123456789: its range
            # collapses to a point): the stated value itself, within the noise
            bounds = (mid(">=", value, "low"), mid("<=", value, "high"))
        else:
            bounds = (mid(">=", low, "low"), mid("<", high, "high"))
        return RangeMatch(bounds, negated=prefix == "ne")
    if prefix == "gt":
        return RangeMatch((mid(">", value, "high"),))
    if prefix == "lt":
        return RangeMatch((mid("<", value, "low"),))
    if prefix == "sa":  # a range starts after the value: all of it lies above
        return RangeMatch((mid(">", value, "low"),))
    if prefix == "eb":  # a range ends before the value: all of it lies below
        return RangeMatch((mid("<", value, "high"),))
    if prefix == "ge":
        return RangeMatch((mid(">=", value, "high"),))
    if prefix == "le":
        return RangeMatch((mid("<=", value, "low"),))
    gap = abs(value) * 0.1  # `ap`: within 10 % of the value
    return RangeMatch((mid(">=", value - gap, "high"), mid("<=", value + gap, "low")))
