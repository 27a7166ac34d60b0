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
    AllOf,
    AnyOf,
    ChainCondition,
    CompositeCondition,
    Condition,
    DateCondition,
    FieldTest,
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
    TypeCondition,
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
            if negated:  # `:not=a,b`: no value is a or b (not: some value is not a)
                return "idx_token", [(True, any_of(token_match("e", v) for v in values))]
            return "idx_token", [(False, token_match("e", v)) for v in values]
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
        case CompositeCondition(_, values):
            return "idx_composite", [(False, _composite(tests)) for tests in values]
    return None


def _composite(tests: tuple[FieldTest, ...]) -> Fragment:
    # Field paths are built from integers only: `$[component][field]`.
    return all_of(
        Fragment(
            f"json_extract(e.key, '$[{int(t.component)}][{int(t.field)}]') {t.op} ?", [t.value]
        )
        for t in tests
    )


def _range(test: Fragment, negated: bool) -> Fragment:
    # `ne`: some value of the resource lies outside the searched range; a resource with no
    # value at all does not match (unlike a token's `:not`).
    return test.wrap("NOT (", ")") if negated else test


def _param(condition: Condition) -> str:
    return str(getattr(condition, "param", ""))


def _exists(table: str, r: str, param: str, test: Fragment, keyed: bool) -> Fragment:
    # A keyed test also names the type, which the entry's own pk implies: with it, the
    # probe is one lookup of the value index's whole key (type, param, value..., pk)
    # instead of a walk over every entry of the resource in the pk index (a Patient's
    # `_has:Observation:patient:code=s|c` at 1M resources: 1.0 -> 0.5 ms).
    typed = f"e.type = {r}.type AND " if keyed else ""
    head = Fragment(
        f"EXISTS (SELECT 1 FROM {table} e WHERE e.pk = {r}.pk AND {typed}e.param = ? AND ",
        [param],
    )
    return head + test + Fragment(")")


def _keyed(condition: Condition) -> bool:
    """Whether every value of `condition` is an equality on all the value columns its
    table's value index holds before `pk`, so that index can find one entry by key."""
    match condition:
        case TokenCondition(_, values, negated):
            return not negated and all(v.system_given and v.code is not None for v in values)
        case ReferenceCondition(_, values):
            return all(v.target_id is not None and v.target_type is not None for v in values)
        case UriCondition(_, _, mode):
            return mode != "below"
    return False


def predicate(condition: Condition, r: str, rtype: str | None) -> Fragment:
    """A predicate true when the resource row `r` (of type `rtype`, or of its own type
    when None) satisfies `condition`."""
    tests = entry_tests(condition)
    if tests is not None:
        table, values = tests
        param = _param(condition)
        keyed = _keyed(condition)
        parts = []
        for negated, test in values:
            probe = _exists(table, r, param, test, keyed)
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
        case HasCondition(source_type, param, inner):
            return _has_probe(r, rtype, source_type, param, inner)
        case ChainCondition(param, target_types, inner):
            return _chain_probe(r, param, target_types, inner)
        case ListCondition(list_ids):
            if rtype is not None:
                return Fragment(f"{r}.pk IN (") + matching_pks(rtype, condition) + Fragment(")")
            # across types (`/?_list=`, `/Patient/123/*?_list=`): items of any type
            marks = ", ".join("?" for _ in list_ids)
            return Fragment(
                f"{r}.pk IN (SELECT x.pk FROM idx_reference h INDEXED BY idx_reference_pk "
                f"CROSS JOIN resources x ON x.type = h.target_type AND x.id = h.target_id "
                f"WHERE h.type = 'List' AND h.param = 'item' AND x.deleted = 0 AND h.pk IN "
                f"(SELECT pk FROM resources WHERE type = 'List' AND deleted = 0 "
                f"AND id IN ({marks})))",
                list(list_ids),
            )
        case AnyOf(conditions):
            return any_of(predicate(c, r, rtype) for c in conditions)
        case AllOf(conditions):
            return all_of(predicate(c, r, rtype) for c in conditions)
        case TypeCondition(of_type, inner):
            typed = Fragment(f"{r}.type = ?", [of_type])
            return all_of([typed, predicate(inner, r, of_type)])
    raise TypeError(f"unsupported condition {type(condition).__name__}")


def matching_pks(rtype: str, condition: Condition) -> Fragment:
    """`SELECT pk` of the current `rtype` resources satisfying `condition`, reading the
    condition's own index where it has one (index entries exist only for current,
    non-deleted versions), so the set costs what it holds, not the table."""
    tests = entry_tests(condition)
    if tests is not None and not any(negated for negated, _ in tests[1]):
        table, values = tests
        head = Fragment(
            f"SELECT e.pk FROM {table} e WHERE e.type = ? AND e.param = ? AND ",
            [rtype, _param(condition)],
        )
        return head + any_of(test for _, test in values)
    match condition:
        case IdCondition(ids):
            marks = ", ".join("?" for _ in ids)
            return Fragment(
                f"SELECT pk FROM resources WHERE type = ? AND deleted = 0 AND id IN ({marks})",
                [rtype, *ids],
            )
        case ChainCondition(param, target_types, inner):
            return _chain_set(rtype, param, target_types, inner)
        case HasCondition(source_type, param, inner):
            return _has_set(rtype, source_type, param, matching_pks(source_type, inner))
        case ListCondition(list_ids):
            marks = ", ".join("?" for _ in list_ids)
            lists = Fragment(
                f"SELECT pk FROM resources WHERE type = 'List' AND deleted = 0 AND id IN ({marks})",
                list(list_ids),
            )
            return _has_set(rtype, "List", "item", lists)
        case AnyOf(conditions):
            parts = [matching_pks(rtype, c) for c in conditions]
            return Fragment(
                " UNION ".join(p.text for p in parts), [a for p in parts for a in p.args]
            )
        case TypeCondition(of_type, inner):
            if of_type != rtype:
                return Fragment("SELECT pk FROM resources WHERE 0")
            return matching_pks(rtype, inner)
    t = _alias("t")
    head = Fragment(
        f"SELECT {t}.pk FROM resources {t} WHERE {t}.type = ? AND {t}.deleted = 0 AND ",
        [rtype],
    )
    return head + predicate(condition, t, rtype)


def typed_pks(condition: Condition) -> Fragment | None:
    """`SELECT pk` of the current resources satisfying a condition made of one type's
    part per type (a TypeCondition, or an AnyOf of them: `Patient/123/*`); None for any
    other condition."""
    parts = condition.conditions if isinstance(condition, AnyOf) else (condition,)
    typed = [p for p in parts if isinstance(p, TypeCondition)]
    if not typed or len(typed) != len(parts):
        return None
    sets = [matching_pks(p.resource_type, p.condition) for p in typed]
    return Fragment(" UNION ".join(s.text for s in sets), [a for s in sets for a in s.args])


def _chain_set(rtype: str, param: str, target_types: tuple[str, ...], inner: Condition) -> Fragment:
    """The `rtype` resources whose `param` refers to a target satisfying `inner`: resolved
    target-first (CROSS JOIN keeps that order) through the reference index's
    (type, param, target_id) key."""
    parts = [matching_pks(t, inner) for t in target_types]
    targets = Fragment(
        " UNION ALL ".join(p.text for p in parts), [a for p in parts for a in p.args]
    )
    c, x = _alias("c"), _alias("x")
    head = Fragment(
        f"SELECT {c}.pk FROM resources {x} CROSS JOIN idx_reference {c} "
        f"ON {c}.type = ? AND {c}.param = ? AND {c}.target_id = {x}.id "
        f"AND {c}.target_type = {x}.type WHERE {x}.pk IN (",
        [rtype, param],
    )
    return head + targets + Fragment(")")


def _chain_probe(r: str, param: str, target_types: tuple[str, ...], inner: Condition) -> Fragment:
    """`r` refers through `param` to a target satisfying `inner`, probed from `r`'s own
    reference entries (the `pk` index), one level of the chain at a time."""
    c, x = _alias("c"), _alias("x")
    marks = ", ".join("?" for _ in target_types)
    head = Fragment(
        f"EXISTS (SELECT 1 FROM idx_reference {c} INDEXED BY idx_reference_pk "
        f"CROSS JOIN resources {x} ON {x}.type = {c}.target_type AND {x}.id = {c}.target_id "
        f"WHERE {c}.pk = {r}.pk AND {c}.param = ? AND {c}.target_type IN ({marks}) "
        f"AND {x}.deleted = 0 AND ",
        [param, *target_types],
    )
    inners = (
        any_of(predicate(inner, x, t) for t in target_types)
        if len(target_types) > 1
        else predicate(inner, x, target_types[0])
    )
    return head + inners + Fragment(")")


def _has_probe(
    r: str, rtype: str | None, source_type: str, param: str, inner: Condition
) -> Fragment:
    """Some `source_type` resource refers to `r` via `param` and satisfies `inner`: probed
    per candidate through the reference index's (type, param, target_id) key, so an
    unselective `_has` costs the page, not every source resource."""
    c, o = _alias("h"), _alias("o")
    target = (
        Fragment(f"{c}.target_type = {r}.type")
        if rtype is None
        else Fragment(f"{c}.target_type = ?", [rtype])
    )
    head = Fragment(
        f"EXISTS (SELECT 1 FROM idx_reference {c} JOIN resources {o} ON {o}.pk = {c}.pk "
        f"WHERE {c}.type = ? AND {c}.param = ? AND {c}.target_id = {r}.id AND ",
        [source_type, param],
    )
    return (
        head
        + target
        + Fragment(f" AND {o}.deleted = 0 AND ")
        + predicate(inner, o, source_type)
        + Fragment(")")
    )


def _has_set(rtype: str, source_type: str, param: str, sources: Fragment) -> Fragment:
    """The `rtype` resources that the `sources` (of `source_type`) refer to via `param`."""
    c, x = _alias("h"), _alias("x")
    head = Fragment(
        f"SELECT {x}.pk FROM idx_reference {c} INDEXED BY idx_reference_pk "
        f"CROSS JOIN resources {x} ON {x}.type = {c}.target_type AND {x}.id = {c}.target_id "
        f"WHERE {c}.type = ? AND {c}.param = ? AND {c}.target_type = ? "
        f"AND {x}.deleted = 0 AND {c}.pk IN (",
        [source_type, param, rtype],
    )
    return head + sources + Fragment(")")
