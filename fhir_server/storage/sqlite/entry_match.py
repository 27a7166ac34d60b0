"""SQL tests on one index entry (a row of an `idx_*` table, under alias `e`).

Each function turns one search value of the plan into a predicate over the entry's
columns; `search_sql` decides whether it runs as a correlated probe, a materialized set or
the driving scan of a page.
"""

from __future__ import annotations

from fhir_server.search.plan import (
    Bound,
    QuantityMatch,
    RangeMatch,
    ReferenceMatch,
    TokenMatch,
)
from fhir_server.storage.sqlite.sql import Fragment, all_of

__all__ = [
    "bounds_on",
    "prefix_range",
    "quantity_match",
    "reference_match",
    "string_contains",
    "token_match",
]

# Larger than any character a FHIR string holds: `p <= v < p + TOP` is "v starts with p".
TOP = "\U0010ffff"


def token_match(e: str, match: TokenMatch) -> Fragment:
    if not match.system_given:
        return Fragment(f"{e}.code = ?", [match.code])
    if match.system is None:
        return Fragment(f"{e}.code = ? AND {e}.system IS NULL", [match.code])
    if match.code is None:
        return Fragment(f"{e}.system = ?", [match.system])
    return Fragment(f"{e}.code = ? AND {e}.system = ?", [match.code, match.system])


def prefix_range(column: str, prefix: str) -> Fragment:
    """`column` starts with `prefix`, as an index-friendly range."""
    return Fragment(f"{column} >= ? AND {column} < ?", [prefix, prefix + TOP])


def string_contains(column: str, text: str) -> Fragment:
    if "\x00" in text:
        # no FHIR string holds a NUL, and LIKE would end the pattern there (match all)
        return Fragment("0 = 1")
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return Fragment(f"{column} LIKE ? ESCAPE '\\'", [f"%{escaped}%"])


def _column(e: str, bound: Bound, low: str, high: str) -> str:
    if bound.end == "low":
        return f"{e}.{low}"
    if bound.end == "high":
        return f"{e}.{high}"
    # a stated value (the middle of its precision range), or a true range's facing end
    facing = low if bound.range_end == "low" else high
    return f"(CASE WHEN {e}.is_range THEN {e}.{facing} ELSE ({e}.{low} + {e}.{high}) / 2.0 END)"


def bounds_on(e: str, match: RangeMatch, low: str = "low", high: str = "high") -> Fragment:
    """The bounds of a (non-negated) range match on the entry's range columns."""
    return all_of(Fragment(f"{_column(e, b, low, high)} {b.op} ?", [b.value]) for b in match.bounds)


def quantity_match(e: str, match: QuantityMatch) -> Fragment:
    """The value bounds (negated for `ne`) and the unit of a quantity search value."""
    negate = match.range.negated
    if match.canonical:
        value = bounds_on(e, match.range, "canonical_low", "canonical_high")
        value = value.wrap("NOT (", ")") if negate else value
        return all_of([value, Fragment(f"{e}.canonical_code = ?", [match.code])])
    value = bounds_on(e, match.range)
    parts = [value.wrap("NOT (", ")") if negate else value]
    if match.system is not None:
        parts.append(Fragment(f"{e}.system = ?", [match.system]))
        if match.code is not None:
            parts.append(Fragment(f"{e}.code = ?", [match.code]))
    elif match.code is not None:
        parts.append(Fragment(f"({e}.code = ? OR {e}.unit = ?)", [match.code, match.code]))
    return all_of(parts)


def reference_match(e: str, match: ReferenceMatch) -> Fragment:
    parts = []
    for column, value in (
        ("target_id", match.target_id),
        ("target_type", match.target_type),
        ("url", match.url),
        ("version", match.version),
        ("identifier_system", match.identifier_system),
        ("identifier_value", match.identifier_value),
    ):
        if value is not None:
            parts.append(Fragment(f"{e}.{column} = ?", [value]))
    if match.unversioned:
        parts.append(Fragment(f"{e}.version IS NULL"))
    return all_of(parts)
