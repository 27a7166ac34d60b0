"""Search conditions as SQL predicates on a resource row (alias `r`, `t`, ...).

Each indexable condition becomes an `EXISTS` probe through the entry table's `pk` index:
checked per candidate row, its cost follows the page being filled, not the database.
Chains, `_has` and `_list` resolve their inner search first (an `IN` set), since they are
selective by nature. See http://hl7.org/fhir/R4/search.html.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from fhir_server.search.plan import (
    AnyOf,
    ChainCondition,
    Condition,
    DateCondition,
    HasCondition,
    IdCondition,
    LastUpdatedCondition,
    ListCondition,
    MissingCondition,
    NumberCondition,
    QuantityCondition,
    ReferenceCondition,
    StringCondition,
    TokenCondition,
    TokenTextCondition,
    UriCondition,
)
from fhir_server.storage.sqlite.entry_match import (
    bounds_on,
    prefix_range,
    quantity_match,
    reference_match,
    string_contains,
    token_match,
)
from fhir_server.storage.sqlite.sql import Fragment, all_of, any_of

__all__ = ["EntryTest", "entry_tests", "predicate"]

_aliases: Iterator[int] = itertools.count()


def _alias(stem: str) -> str:
    return f"{stem}{next(_aliases) % 1_000_000}"


# (table, [(negated, test on alias "e")]) for the conditions that look at one entry table.
EntryTest = tuple[str, list[tuple[bool, Fragment]]]


def entry_tests(condition: Condition) -> EntryTest | None:
    """The entry table and the ORed per-value tests (each possibly negated) of an
    indexable condition, written over alias `e`; None for other conditions."""
    match condition:
        case TokenCondition(_, values, negated):
            return "idx_token", [(negated, token_match("e", v)) for v in values]
        case TokenTextCondition(_, prefixes):
            return "idx_token", [(False, prefix_range("e.text", p)) for p in prefixes]
        case StringCondition(_, values, mode):
            if mode == "exact":
                return "idx_string", [(False, Fragment("e.exact = ?", [v])) for v in values]
            if mode == "contains":
                return "idx_string", [(False, string_contains("e.value", v)) for v in values]
            return "idx_string", [(False, prefix_range("e.value", v)) for v in values]
        case UriCondition(_, values, mode):
            if mode == "below":
                return "idx_uri", [(False, prefix_range("e.value", v)) for v in values]
            marks = ", ".join("?" for _ in values)
            return "idx_uri", [(False, Fragment(f"e.value IN ({marks})", list(values)))]
        case DateCondition(_, matches):
            return "idx_date", [(False, _range(bounds_on("e", m), m.negated)) for m in matches]
        case NumberCondition(_, matches):
            return "idx_number", [(False, _range(bounds_on("e", m), m.negated)) for m in matches]
        case QuantityCondition(_, values):
            return "idx_quantity", [(False, quantity_match("e", v)) for v in values]
        case ReferenceCondition(_, values):
            return "idx_reference", [(False, reference_match("e", v)) for v in values]
    return None


def _range(test: Fragment, negated: bool) -> Fragment:
    # `ne`: some value of the resource lies outside the searched range; a resource with no
    # value at all does not match (unlike a token's `:not`).
    return test.wrap("NOT (", ")") if negated else test


def _param(condition: Condition) -> str:
    return str(getattr(condition, "param", ""))


def _exists(table: str, r: str, param: str, test: Fragment) -> Fragment:
    head = Fragment(
        f"EXISTS (SELECT 1 FROM {table} e WHERE e.pk = {r}.pk AND e.param = ? AND ",
        [param],
    )
    return head + test + Fragment(")")


def predicate(condition: Condition, r: str, rtype: str | None) -> Fragment:
    """A predicate true when the resource row `r` (of type `rtype`, or of its own type
    when None) satisfies `condition`."""
    tests = entry_tests(condition)
    if tests is not None:
        table, values = tests
        param = _param(condition)
        parts = []
        for negated, test in values:
            probe = _exists(table, r, param, test)
            parts.append(probe.wrap("NOT ", "") if negated else probe)
        return any_of(parts)
    match condition:
        case IdCondition(ids):
            return Fragment(f"{r}.id IN ({', '.join('?' for _ in ids)})", list(ids))
        case LastUpdatedCondition(matches):
            parts = []
            for m in matches:
                test = all_of(
                    Fragment(f"{r}.last_updated_us {b.op} ?", [b.value]) for b in m.bounds
                )
                parts.append(test.wrap("NOT (", ")") if m.negated else test)
            return any_of(parts)
        case MissingCondition(param, kind, missing):
            probe = Fragment(
                f"EXISTS (SELECT 1 FROM idx_{kind} e WHERE e.pk = {r}.pk AND e.param = ?)",
                [param],
            )
            return probe.wrap("NOT ", "") if missing else probe
        case ChainCondition(param, target_types, inner):
            return _chain(r, rtype, param, target_types, inner)
        case HasCondition(source_type, param, inner):
            return _has(r, rtype, source_type, param, inner)
        case ListCondition(list_ids):
            return _list(r, rtype, list_ids)
        case AnyOf(conditions):
            return any_of(predicate(c, r, rtype) for c in conditions)
    raise TypeError(f"unsupported condition {type(condition).__name__}")


def matching_pks(rtype: str, condition: Condition) -> Fragment:
    """`SELECT pk` of the current `rtype` resources satisfying `condition` (a set)."""
    t = _alias("t")
    inner = predicate(condition, t, rtype)
    head = Fragment(
        f"SELECT {t}.pk FROM resources {t} WHERE {t}.type = ? AND {t}.deleted = 0 AND ",
        [rtype],
    )
    return head + inner


def _chain(
    r: str, rtype: str | None, param: str, target_types: tuple[str, ...], inner: Condition
) -> Fragment:
    """The referring resources of the targets that satisfy `inner`, as a set: chains are
    resolved target-first, through the reference index's (target_id, target_type) key."""
    c, x = _alias("c"), _alias("x")
    type_test = (
        Fragment(f"{c}.type = {r}.type") if rtype is None else Fragment(f"{c}.type = ?", [rtype])
    )
    head = Fragment(
        f"{r}.pk IN (SELECT {c}.pk FROM resources {x} JOIN idx_reference {c} "
        f"ON {c}.target_id = {x}.id AND {c}.target_type = {x}.type "
        f"WHERE {c}.param = ? AND ",
        [param],
    )
    targets = _union(target_types, inner)
    return head + type_test + Fragment(f" AND {x}.pk IN (") + targets + Fragment("))")


def _union(target_types: tuple[str, ...], inner: Condition) -> Fragment:
    parts = [matching_pks(t, inner) for t in target_types]
    text = " UNION ALL ".join(p.text for p in parts)
    return Fragment(text, [a for p in parts for a in p.args])


def _has(r: str, rtype: str | None, source_type: str, param: str, inner: Condition) -> Fragment:
    c = _alias("h")
    type_test = (
        Fragment(f"{c}.target_type = {r}.type")
        if rtype is None
        else Fragment(f"{c}.target_type = ?", [rtype])
    )
    head = Fragment(
        f"{r}.id IN (SELECT {c}.target_id FROM idx_reference {c} WHERE {c}.type = ? "
        f"AND {c}.param = ? AND ",
        [source_type, param],
    )
    return (
        head
        + type_test
        + Fragment(f" AND {c}.pk IN (")
        + matching_pks(source_type, inner)
        + Fragment("))")
    )


def _list(r: str, rtype: str | None, list_ids: tuple[str, ...]) -> Fragment:
    c = _alias("l")
    type_test = (
        Fragment(f"{c}.target_type = {r}.type")
        if rtype is None
        else Fragment(f"{c}.target_type = ?", [rtype])
    )
    marks = ", ".join("?" for _ in list_ids)
    head = Fragment(
        f"{r}.id IN (SELECT {c}.target_id FROM idx_reference {c} WHERE {c}.type = 'List' "
        f"AND {c}.param = 'item' AND ",
    )
    tail = Fragment(
        f" AND {c}.pk IN (SELECT pk FROM resources WHERE type = 'List' AND deleted = 0 "
        f"AND id IN ({marks})))",
        list(list_ids),
    )
    return head + type_test + tail
