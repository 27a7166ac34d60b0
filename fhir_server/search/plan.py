"""The backend-free search plan: what a query asks for, already parsed and validated.

Adapters compile a `SearchPlan` into their own query language (SQL over the index tables,
`$elemMatch` over MongoDB's index array); they never see FHIR query strings.
See http://hl7.org/fhir/R4/search.html.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Bound",
    "Condition",
    "Cursor",
    "IdCondition",
    "LastUpdatedCondition",
    "RangeMatch",
    "SearchPlan",
    "TokenCondition",
    "TokenMatch",
    "TotalMode",
]

TotalMode = Literal["none", "estimate", "accurate"]


@dataclass(frozen=True, slots=True)
class TokenMatch:
    """One token value: `code`, `system|code`, `|code` (no system) or `system|`."""

    system: str | None
    code: str | None
    system_given: bool  # False for a bare `code`: any system matches


@dataclass(frozen=True, slots=True)
class TokenCondition:
    """`param=a,b` over token index entries; the values are ORed."""

    param: str
    values: tuple[TokenMatch, ...]
    negated: bool = False  # `:not`


@dataclass(frozen=True, slots=True)
class IdCondition:
    """`_id=a,b`."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Bound:
    """One comparison on an indexed range's `low` or `high` end."""

    end: Literal["low", "high"]
    op: Literal["<", "<=", ">", ">="]
    value: int | float


@dataclass(frozen=True, slots=True)
class RangeMatch:
    """A search value with its prefix, already turned into bounds (ANDed) on the indexed
    range, so adapters compile comparisons and never interpret prefixes."""

    bounds: tuple[Bound, ...]
    negated: bool = False  # `ne`: none of the bounds' combination holds


@dataclass(frozen=True, slots=True)
class LastUpdatedCondition:
    """`_lastUpdated=[prefix]value,...`: ORed matches on the resource's update instant,
    whose indexed range is a single point (low = high)."""

    matches: tuple[RangeMatch, ...]


Condition = TokenCondition | IdCondition | LastUpdatedCondition


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page starts: strictly after (or, going back, before) a resource's position."""

    position: int
    direction: Literal["after", "before"]


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """A parsed search over one resource type; conditions are ANDed."""

    resource_type: str
    conditions: tuple[Condition, ...] = ()
    count: int = 20
    cursor: Cursor | None = None
    total: TotalMode = "accurate"
    applied_params: tuple[tuple[str, str], ...] = field(default=())
