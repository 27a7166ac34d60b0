"""One search parameter (name with modifiers, chains or `_has`, and its value) as a plan
condition. http://hl7.org/fhir/R4/search.html#ptypes, #modifiers, #chaining, #has.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fhir_server.errors import BadRequest
from fhir_server.resource_types import is_resource_type
from fhir_server.search.cardinality import refers_at_most_once
from fhir_server.search.convert import OF_TYPE, of_type_code
from fhir_server.search.near import near_condition
from fhir_server.search.normalize import decimal_range, fold
from fhir_server.search.plan import (
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
    QuantityMatch,
    ReferenceCondition,
    StringCondition,
    TokenCondition,
    TokenMatch,
    TokenTextCondition,
    UriCondition,
)
from fhir_server.search.query_composite import component_types, composite_condition
from fhir_server.search.query_references import reference_match, uri_above
from fhir_server.search.registry import SearchParameterDef, SearchRegistry
from fhir_server.search.ucum import canonical_unit
from fhir_server.search.values import (
    date_match,
    number_match,
    point_bounds,
    split_escaped,
    split_prefix,
    token_match,
    unescape,
)

__all__ = [
    "INDEXED_TYPES",
    "ConditionContext",
    "Unsupported",
    "parse_condition",
    "searchable",
]

# Parameter types whose values the indexer extracts and the plan can express.
INDEXED_TYPES = frozenset(
    {"string", "token", "reference", "date", "number", "quantity", "uri", "composite"}
)
UCUM = "http://unitsofmeasure.org"
# Levels of chaining and `_has` one parameter may nest: each is a join per candidate, and
# a URL nesting thousands would make a query SQLite refuses to prepare.
MAX_CHAIN_DEPTH = 8
MAX_CONDITIONS = 1000

_MODIFIERS = {
    "string": {"exact", "contains", "missing"},
    "token": {"text", "not", "missing", "above", "below", "in", "not-in", "of-type"},
    "reference": {"identifier", "missing", "above", "below"},
    "uri": {"above", "below", "missing"},
    "date": {"missing"},
    "number": {"missing"},
    "quantity": {"missing"},
    "composite": {"missing"},
}
# Modifiers the spec defines for a type but this server cannot honour (no terminology
# server): refused even in lenient mode, since ignoring them would change the results.
_UNSUPPORTED = {
    "token": {"above", "below", "in", "not-in"},
    "reference": {"above", "below"},
}


class Unsupported(Exception):
    """A parameter this server does not know or index: lenient searches skip it."""


@dataclass(frozen=True, slots=True)
class ConditionContext:
    """What parsing one search's conditions needs; one per search."""

    registry: SearchRegistry
    base_url: str  # references to this server's own base are local references
    # Conditions the search may still parse (a one-element list: the budget is spent as
    # parsing goes). A chain parses its rest once per target type, so `Task?focus._has:
    # Task:focus:focus...` multiplies by ~145 types a level: seconds of CPU, then SQL
    # too large to prepare, where a cap answers at once.
    budget: list[int] = field(default_factory=lambda: [MAX_CONDITIONS])


# ORed values one parameter may carry: a bound on the size of the query it becomes.
MAX_VALUES = 100


def _values(text: str) -> list[str]:
    values = [v for v in split_escaped(text, ",") if v != ""]
    if len(values) > MAX_VALUES:
        raise BadRequest(
            f"A search parameter takes at most {MAX_VALUES} values separated by commas"
        )
    return values


class _TooLarge(Exception):
    """Raised past MAX_CHAIN_DEPTH or MAX_CONDITIONS, caught where the whole parameter
    name is known (the message follows it)."""


def parse_condition(
    rtype: str, name: str, value: str, ctx: ConditionContext, depth: int = 0
) -> Condition:
    """The condition for `name=value` on `rtype`; raises BadRequest or Unsupported."""
    if depth > MAX_CHAIN_DEPTH:
        raise _TooLarge(f"chains deeper than {MAX_CHAIN_DEPTH} levels")
    ctx.budget[0] -= 1
    if ctx.budget[0] < 0:
        raise _TooLarge(
            f"reaches more than {MAX_CONDITIONS} conditions through the types its chains "
            "can point to: name the types (param:Type.next)"
        )
    try:
        return _condition(rtype, name, value, ctx, depth)
    except _TooLarge as exc:
        if depth > 0:
            raise  # named once, with the whole parameter, where parsing began
        raise BadRequest(f"'{name[:80]}' {exc}", (name[:80],)) from None


def _condition(rtype: str, name: str, value: str, ctx: ConditionContext, depth: int) -> Condition:
    if name.startswith("_has:"):
        return _has(rtype, name, value, ctx, depth)
    head, dot, rest = name.partition(".")
    code, colon, modifier = head.partition(":")
    if colon and not modifier:  # `name:=x`: a modifier left out is no plain `name=x`
        raise BadRequest(f"'{name[:80]}' names an empty modifier", (name[:80],))
    if dot:
        return _chain(rtype, code, modifier, rest, name, value, ctx, depth)
    special = _special(code, modifier, value, name)
    if special is not None:
        return special
    if rtype == "Location" and code == "near" and not modifier:
        return near_condition(value, name[:80])
    definition = _definition(rtype, code, ctx)
    if modifier == "missing":
        return _missing(definition, value, name)
    return _typed(definition, modifier, value, name, ctx)


def _definition(rtype: str, code: str, ctx: ConditionContext) -> SearchParameterDef:
    definition = ctx.registry.get(rtype, code)
    if definition is None or not searchable(definition, ctx.registry):
        raise Unsupported(f"The search parameter '{code[:80]}' is not supported for {rtype}")
    return definition


def searchable(definition: SearchParameterDef, registry: SearchRegistry) -> bool:
    """Whether the server indexes and searches this parameter (the CapabilityStatement
    lists exactly these)."""
    if definition.type not in INDEXED_TYPES or not definition.expression:
        return False
    if definition.url in _BROKEN_IN_R4:
        return False
    return definition.type != "composite" or component_types(definition, registry) is not None


# R4 parameters whose published definition cannot work: DocumentReference-relationship
# gives its components each other's expressions (relatesto -> code, relation -> target),
# so no entry is ever made for it. Not claimed rather than claimed and always empty.
_BROKEN_IN_R4 = frozenset({"http://hl7.org/fhir/SearchParameter/DocumentReference-relationship"})


def _special(code: str, modifier: str, value: str, name: str) -> Condition | None:
    if code in ("_id", "_lastUpdated", "_list") and not modifier and not _values(value):
        raise BadRequest(f"The search parameter '{name[:80]}' has no value", (name[:80],))
    if code == "_id" and not modifier:
        return IdCondition(tuple(unescape(v) for v in _values(value)))
    if code == "_lastUpdated" and not modifier:
        return LastUpdatedCondition(tuple(date_match(code, v) for v in _values(value)))
    if code == "_list" and not modifier:
        return ListCondition(tuple(unescape(v) for v in _values(value)))
    if code in ("_id", "_lastUpdated", "_list"):
        raise BadRequest(f"The modifier ':{modifier[:40]}' is not valid on {code}", (name[:80],))
    return None


def _missing(definition: SearchParameterDef, value: str, name: str) -> Condition:
    if value not in ("true", "false"):
        raise BadRequest(f"{name[:80]} must be true or false", (name[:80],))
    return MissingCondition(definition.code, definition.type, value == "true")  # type: ignore[arg-type]


def _check_modifier(definition: SearchParameterDef, modifier: str, name: str) -> None:
    if not modifier:
        return
    ptype = definition.type
    if ptype == "reference" and is_resource_type(modifier):
        return
    if modifier not in _MODIFIERS.get(ptype, set()):
        raise BadRequest(
            f"Unknown modifier ':{modifier[:40]}' for the {ptype} parameter '{definition.code}'",
            (name[:80],),
        )
    if modifier in _UNSUPPORTED.get(ptype, set()):
        raise BadRequest(
            f"The modifier ':{modifier}' of '{definition.code}' is not supported by this server",
            (name[:80],),
        )


def _typed(
    definition: SearchParameterDef, modifier: str, value: str, name: str, ctx: ConditionContext
) -> Condition:
    _check_modifier(definition, modifier, name)
    code, values = definition.code, _values(value)
    if not values:
        raise BadRequest(f"The search parameter '{name[:80]}' has no value", (name[:80],))
    match definition.type:
        case "string":
            if modifier == "exact":
                return StringCondition(code, tuple(unescape(v) for v in values), "exact")
            folded = tuple(fold(unescape(v)) for v in values)
            if modifier == "contains":
                return StringCondition(code, folded, "contains")
            return StringCondition(code, folded, "starts")
        case "token":
            if modifier == "text":
                return TokenTextCondition(code, tuple(fold(unescape(v)) for v in values))
            if modifier == "of-type":
                if not code.endswith("identifier"):
                    raise BadRequest(
                        f":of-type applies to identifier parameters, not '{code}'", (name[:80],)
                    )
                return TokenCondition(code + OF_TYPE, tuple(_of_type(name, v) for v in values))
            return TokenCondition(code, tuple(token_match(v) for v in values), modifier == "not")
        case "date":
            return DateCondition(code, tuple(date_match(code, v) for v in values))
        case "number":
            return NumberCondition(code, tuple(number_match(code, v) for v in values))
        case "quantity":
            return QuantityCondition(code, tuple(_quantity(code, v) for v in values))
        case "uri":
            if modifier == "above":
                return UriCondition(
                    code, tuple(p for v in values for p in uri_above(unescape(v))), "above"
                )
            uris = tuple(unescape(v) for v in values)
            return UriCondition(code, uris, "below" if modifier == "below" else "exact")
        case "composite":
            return composite_condition(definition, ctx.registry, values, name[:80])
        case "reference":
            matches = tuple(
                reference_match(definition, modifier, v, ctx.base_url, name) for v in values
            )
            return ReferenceCondition(code, matches)
    raise Unsupported(f"The search parameter '{code}' is not supported")


def _of_type(name: str, text: str) -> TokenMatch:
    """`type-system|type-code|identifier-value` (the type's system may be empty)."""
    parts = [unescape(p) for p in split_escaped(text, "|")]
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise BadRequest(
            f"'{text[:80]}' is not valid for {name[:80]}: expected system|code|value",
            (name[:80],),
        )
    system, type_code, value = parts
    return TokenMatch(system or None, of_type_code(type_code, value), system_given=bool(system))


def _quantity(param: str, text: str) -> QuantityMatch:
    """`[prefix]number|system|code`, `number||code` or `number` (search.html#quantity)."""
    parts = split_escaped(text, "|")
    if len(parts) not in (1, 3):
        raise BadRequest(
            f"'{text[:80]}' is not a valid quantity for {param}: [prefix]number|system|code",
            (param,),
        )
    prefix, number_text = split_prefix(parts[0])
    found = decimal_range(number_text)
    if found is None:
        raise BadRequest(
            f"'{text[:80]}' is not a valid quantity for {param}: the number is missing", (param,)
        )
    system = unescape(parts[1]) or None if len(parts) == 3 else None
    unit = unescape(parts[2]) or None if len(parts) == 3 else None
    value, low, high = float(number_text), found[0], found[1]
    canonical = canonical_unit(unit) if system == UCUM and unit is not None else None
    if canonical is not None:
        scale = canonical.factor
        value, low, high = (v * scale + canonical.offset for v in (value, low, high))
        return QuantityMatch(
            point_bounds(prefix, value, low, high), UCUM, canonical.code, canonical=True
        )
    return QuantityMatch(point_bounds(prefix, value, low, high), system, unit)


def _chain(
    rtype: str,
    code: str,
    modifier: str,
    rest: str,
    name: str,
    value: str,
    ctx: ConditionContext,
    depth: int,
) -> Condition:
    definition = ctx.registry.get(rtype, code)
    if definition is None:
        raise Unsupported(f"The search parameter '{code[:80]}' is not supported for {rtype}")
    if definition.type != "reference":
        raise BadRequest(
            f"'{name[:80]}' chains through '{code}', which is a {definition.type} parameter, "
            "not a reference",
            (name[:80],),
        )
    if modifier and not is_resource_type(modifier):
        raise BadRequest(
            f"A chain's modifier must be a resource type, not ':{modifier[:40]}'", (name[:80],)
        )
    candidates = (modifier,) if modifier else definition.target
    next_code = rest.partition(".")[0].partition(":")[0]
    targets = tuple(t for t in candidates if _continues(t, next_code, rest, ctx))
    if not targets:
        raise BadRequest(
            f"None of the targets of '{code}' ({', '.join(candidates) or 'none'}) has the "
            f"search parameter '{next_code[:80]}'",
            (name[:80],),
        )
    inners = [parse_condition(t, rest, value, ctx, depth + 1) for t in targets]
    once = refers_at_most_once(definition.expression, rtype)
    if len(set(inners)) == 1:
        return ChainCondition(code, targets, inners[0], once)
    # Different targets parse the rest differently (rare): one chain per target, ORed.
    from fhir_server.search.plan import AnyOf

    chains = (ChainCondition(code, (t,), c, once) for t, c in zip(targets, inners, strict=True))
    return AnyOf(tuple(chains))


def _continues(target: str, next_code: str, rest: str, ctx: ConditionContext) -> bool:
    """Whether the rest of a chain can apply to `target`: it has the next parameter, or
    the next step is `_has:Source:param` and that parameter may refer to `target` (an
    untyped `subject._has:Condition:subject:...` covers the subject types Condition can
    point to, not every one Observation.subject can)."""
    if next_code == "_has":
        parts = rest.split(":", 3)
        found = ctx.registry.get(parts[1], parts[2]) if len(parts) == 4 else None
        return found is None or _may_refer_to(found, target)  # else `_has` names the error
    return next_code.startswith("_") or ctx.registry.get(target, next_code) is not None


def _may_refer_to(definition: SearchParameterDef, rtype: str) -> bool:
    """Whether a reference parameter may point to `rtype` (no listed target: any type)."""
    return not definition.target or rtype in definition.target


def _has(rtype: str, name: str, value: str, ctx: ConditionContext, depth: int) -> Condition:
    parts = name.split(":", 3)
    if len(parts) < 4 or not parts[3]:
        raise BadRequest(
            f"'{name[:80]}' must read _has:Type:reference-param:search-param", (name[:80],)
        )
    _, source, param, rest = parts
    if not is_resource_type(source):
        raise BadRequest(f"'{source[:80]}' in '{name[:80]}' is not a resource type", (name[:80],))
    definition = ctx.registry.get(source, param)
    if definition is None or definition.type != "reference":
        raise BadRequest(f"'{param[:80]}' is not a reference parameter of {source}", (name[:80],))
    if not _may_refer_to(definition, rtype):
        raise BadRequest(f"{source}.{param} never refers to a {rtype}", (name[:80],))
    inner = parse_condition(source, rest, value, ctx, depth + 1)
    return HasCondition(source, param, inner)
