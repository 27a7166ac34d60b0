"""The backend-free search plan: what a query asks for, already parsed and validated.

Adapters compile a `SearchPlan` into their own query language (SQL over the index tables,
`$elemMatch` over MongoDB's index array); they never see FHIR query strings, prefixes or
modifiers: those are resolved here into plain comparisons on index-entry fields.
See http://hl7.org/fhir/R4/search.html.

Every condition applies to "the resource being tested", whose type the enclosing plan (or
chain, or `_has`) fixes. Conditions in a tuple are ANDed; the values inside one condition
are ORed, as repeated parameters and commas are in a query string.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ANY_SOURCE",
    "MIDDLE",
    "AllOf",
    "AnyOf",
    "Bound",
    "ChainCondition",
    "CompositeCondition",
    "Condition",
    "Cursor",
    "DateCondition",
    "FieldTest",
    "HasCondition",
    "IdCondition",
    "IncludeSpec",
    "LastUpdatedCondition",
    "ListCondition",
    "MissingCondition",
    "NumberCondition",
    "QuantityCondition",
    "QuantityMatch",
    "RangeMatch",
    "ReferenceCondition",
    "ReferenceMatch",
    "SearchPlan",
    "SortKey",
    "StringCondition",
    "TokenCondition",
    "TokenMatch",
    "TokenTextCondition",
    "TotalMode",
    "TypeCondition",
    "UriCondition",
]

TotalMode = Literal["none", "estimate", "accurate"]
# The index tables (or entry kinds) a condition can look at.
EntryKind = Literal[
    "string", "token", "reference", "date", "number", "quantity", "uri", "composite"
]
# A sort key reads an entry field, or (kind "resource") a column of the resource itself.
SortKind = Literal["string", "token", "reference", "date", "number", "quantity", "uri", "resource"]


@dataclass(frozen=True, slots=True)
class Bound:
    """One comparison on an indexed range: its `low` end, `high` end, or midpoint (`mid`,
    the stated value of a number whose range only records its precision). A `mid` bound
    meets an entry that is a true range (a Range, a Quantity with a comparator) at
    `range_end` instead: search.html#prefix compares such ranges by overlap (`gt`: the
    range above the value meets the target's) and `eq` by containment."""

    end: Literal["low", "high", "mid"]
    op: Literal["<", "<=", ">", ">="]
    value: int | float
    range_end: Literal["low", "high"] = "low"


@dataclass(frozen=True, slots=True)
class RangeMatch:
    """A search value with its prefix, already turned into bounds (ANDed) on the indexed
    range, so adapters compile comparisons and never interpret prefixes."""

    bounds: tuple[Bound, ...]
    negated: bool = False  # `ne`: the resource has no value satisfying the bounds


@dataclass(frozen=True, slots=True)
class TokenMatch:
    """One token value: `code`, `system|code`, `|code` (no system) or `system|`."""

    system: str | None
    code: str | None
    system_given: bool  # False for a bare `code`: any system matches


@dataclass(frozen=True, slots=True)
class TokenCondition:
    """`param=a,b` over token entries; `:not` keeps resources with no matching value."""

    param: str
    values: tuple[TokenMatch, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class TokenTextCondition:
    """`param:text=...`: the folded text of the token starts with one of the values."""

    param: str
    prefixes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StringCondition:
    """String search: `starts` and `contains` compare folded values, `exact` the original."""

    param: str
    values: tuple[str, ...]
    mode: Literal["starts", "contains", "exact"] = "starts"


@dataclass(frozen=True, slots=True)
class UriCondition:
    """`exact` equality, `below` (the value starts with), `above` (one of the listed
    prefixes, which the parser derived from the search URL, equals the value)."""

    param: str
    values: tuple[str, ...]
    mode: Literal["exact", "below", "above"] = "exact"


@dataclass(frozen=True, slots=True)
class DateCondition:
    param: str
    matches: tuple[RangeMatch, ...]


@dataclass(frozen=True, slots=True)
class NumberCondition:
    param: str
    matches: tuple[RangeMatch, ...]


@dataclass(frozen=True, slots=True)
class QuantityMatch:
    """A quantity value: bounds on the stated value (or on the canonical UCUM value when
    `canonical` is set, with `code` then the canonical unit), and the unit to match."""

    range: RangeMatch
    system: str | None
    code: str | None
    canonical: bool = False


@dataclass(frozen=True, slots=True)
class QuantityCondition:
    param: str
    values: tuple[QuantityMatch, ...]


@dataclass(frozen=True, slots=True)
class ReferenceMatch:
    """A reference value; each given field must match (None means "any"). `unversioned`:
    the reference names no version (a canonical `url` alone, which means the latest)."""

    target_type: str | None = None
    target_id: str | None = None
    url: str | None = None
    version: str | None = None
    identifier_system: str | None = None
    identifier_value: str | None = None
    unversioned: bool = False


@dataclass(frozen=True, slots=True)
class ReferenceCondition:
    param: str
    values: tuple[ReferenceMatch, ...]


@dataclass(frozen=True, slots=True)
class FieldTest:
    """A comparison on one field of one component of a composite entry. Component fields
    are strings (numbers and dates in an order-preserving encoding, see `entries`), so
    every comparison is a string comparison."""

    component: int
    field: int
    op: Literal["=", "<", "<=", ">", ">="]
    value: str


@dataclass(frozen=True, slots=True)
class CompositeCondition:
    """`param=a$b,c$d`: some composite entry passes all tests of one value (ORed)."""

    param: str
    values: tuple[tuple[FieldTest, ...], ...]


@dataclass(frozen=True, slots=True)
class MissingCondition:
    """`param:missing=true|false`: whether the resource has any entry for the parameter."""

    param: str
    kind: EntryKind
    missing: bool


@dataclass(frozen=True, slots=True)
class IdCondition:
    """`_id=a,b`."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LastUpdatedCondition:
    """`_lastUpdated`: ORed matches on the resource's update instant (a point)."""

    matches: tuple[RangeMatch, ...]


@dataclass(frozen=True, slots=True)
class ChainCondition:
    """`param.chained=...`: the resource refers, through `param`, to a resource of one of
    `target_types` that satisfies `condition` (search.html#chaining)."""

    param: str
    target_types: tuple[str, ...]
    condition: Condition
    # Whether a resource holds at most one reference through `param` (its element is
    # 0..1): a chain of such levels can be walked from its far end (the SQLite adapter's
    # chain_walk).
    refers_once: bool = False


@dataclass(frozen=True, slots=True)
class HasCondition:
    """`_has:Source:param:...`: some `source_type` resource refers to the resource through
    `param` and satisfies `condition` (search.html#has)."""

    source_type: str
    param: str
    condition: Condition


@dataclass(frozen=True, slots=True)
class ListCondition:
    """`_list=id`: the resource is an item of List/id."""

    list_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TypeCondition:
    """The resource is a `resource_type` satisfying `condition`: a search over several
    types whose condition differs per type (`Patient/123/*`, each type's compartment
    parameters)."""

    resource_type: str
    condition: Condition


@dataclass(frozen=True, slots=True)
class AllOf:
    """Every one of the conditions holds (`near`: a latitude band and a longitude band)."""

    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """At least one of the conditions holds (compartments: subject OR performer...)."""

    conditions: tuple[Condition, ...]


Condition = (
    TokenCondition
    | TokenTextCondition
    | StringCondition
    | UriCondition
    | DateCondition
    | NumberCondition
    | QuantityCondition
    | ReferenceCondition
    | CompositeCondition
    | MissingCondition
    | IdCondition
    | LastUpdatedCondition
    | ChainCondition
    | HasCondition
    | ListCondition
    | AnyOf
    | AllOf
    | TypeCondition
)


MIDDLE = "middle"


@dataclass(frozen=True, slots=True)
class SortKey:
    """`_sort`: order by the lowest (ascending) or highest (descending) indexed value of
    `param`; `kind` names the index, `field` the entry field compared (`MIDDLE`: the
    middle of a range entry's `low` and `high`, the value a number's precision surrounds)."""

    param: str
    kind: SortKind
    field: str
    descending: bool = False


# The source type of `_include:iterate=*`: any type met while including.
ANY_SOURCE = "*"


@dataclass(frozen=True, slots=True)
class IncludeSpec:
    """`_include=Source:param[:Target]` (reverse=False) or `_revinclude` (reverse=True);
    `_include:iterate=*` is one spec of source ANY_SOURCE, expanded round by round into
    every reference parameter of the types just added (query.expand_any_source)."""

    source_type: str
    param: str
    target_type: str | None = None
    reverse: bool = False
    iterate: bool = False


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page starts: strictly after (or, going back, before) a resource's place in
    the result order; `sort_values` holds that resource's sort key values (None = missing).
    """

    position: int
    direction: Literal["after", "before"]
    sort_values: tuple[str | int | float | None, ...] = ()
    # A walk in two phases (sorted by an index, then the resources without a value) marks
    # the second here: no sort value can be mistaken for the mark.
    second_phase: bool = False
    # A walk in value order notes the store's write watermark at its first page: later
    # pages place every resource where it stood then (storage: paging that holds still).
    snapshot: int | None = None


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """A parsed search. `resource_type` None with `types` is a system search."""

    resource_type: str | None
    conditions: tuple[Condition, ...] = ()
    count: int = 20
    cursor: Cursor | None = None
    total: TotalMode = "accurate"
    applied_params: tuple[tuple[str, str], ...] = field(default=())
    types: tuple[str, ...] = ()  # system search over these types (empty: all types)
    sort: tuple[SortKey, ...] = ()
    includes: tuple[IncludeSpec, ...] = ()
    # with total "estimate": count exactly up to this many matches, then stop counting
    estimate_limit: int = 1000


def reads_only_its_own(condition: Condition) -> bool:
    """Whether `condition` is decided by the resource's own index entries alone, not by
    other resources (a chain, `_has`, `_list`)."""
    match condition:
        case ChainCondition() | HasCondition() | ListCondition():
            return False
        case AnyOf(conditions):
            return all(reads_only_its_own(c) for c in conditions)
        case TypeCondition(_, inner):
            return reads_only_its_own(inner)
    return True
