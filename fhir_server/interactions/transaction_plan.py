"""Planning a transaction: every write of the Bundle as one list of compare-and-swap ops.

http://hl7.org/fhir/R4/http.html#trules, in order:

1. resolve each write's target: its URL, or the one match of its conditional URL
   (conditional create `ifNoneExist`, conditional update and delete), or a new id;
2. refuse two entries changing the same resource;
3. map every `fullUrl` to the `Type/id` it became, and rewrite the references to it;
   resolve conditional references (`Practitioner?identifier=sys|val`) to their one match;
4. build the ops, DELETE first, then POST, then PUT and PATCH.

Nothing is written here: the caller commits the ops in one database transaction, so a
failure anywhere leaves no trace. Searches see the database as it was before the
transaction, less the resources its DELETEs remove: a conditional create or reference
cannot match a resource the same Bundle creates or changes.
"""

from __future__ import annotations

from collections import ChainMap
from dataclasses import dataclass, field, replace
from typing import Any

from fhir_server.errors import BadRequest, FhirError, Gone, NotFound, PreconditionFailed
from fhir_server.exchange import Interaction
from fhir_server.interactions.bundle_entries import BundleEntry, at_entry, phase_of
from fhir_server.interactions.conditional import (
    criteria_plan,
    find_matches,
    parse_criteria,
    refuse_replacing,
)
from fhir_server.interactions.conditional_references import reference_target
from fhir_server.interactions.context import Context
from fhir_server.interactions.patch import patched_resource
from fhir_server.interactions.preconditions import parse_if_match
from fhir_server.interactions.references import (
    Undo,
    is_conditional_reference,
    is_placeholder,
    placeholder_slots,
    reference_holders,
    restore,
    rewrite,
    rewrite_slots,
)
from fhir_server.interactions.writes import new_id, prepare_delete, prepare_put
from fhir_server.resource_types import is_resource_type
from fhir_server.routing import check_id
from fhir_server.search.plan import SearchPlan
from fhir_server.search.query import CONTROL_PARAMS
from fhir_server.storage.contracts import StoredVersion, WriteOp

__all__ = ["EntryResult", "Plan", "plan_transaction"]

_WRITES = (Interaction.CREATE, Interaction.UPDATE, Interaction.DELETE, Interaction.PATCH)


@dataclass(slots=True)
class EntryResult:
    """How one write entry ends: a status line and the version it is about, if any."""

    status: str
    stored: StoredVersion | None = None
    note: str | None = None


@dataclass(slots=True)
class Plan:
    ops: list[WriteOp] = field(default_factory=list)
    op_entries: list[BundleEntry] = field(default_factory=list)
    results: dict[int, EntryResult] = field(default_factory=dict)
    undo: Undo = field(default_factory=list)

    def discard(self) -> None:
        """Put back every reference the plan rewrote (before a retry)."""
        restore(self.undo)
        self.undo.clear()


@dataclass(slots=True)
class _Target:
    resource_type: str
    id: str | None  # None: nothing to change (conditional delete without a match)
    existing: StoredVersion | None = None  # the match of a conditional create
    unless_matched: SearchPlan | None = None  # a conditional create's criteria (WriteOp)
    # a conditional create repeating an earlier entry's criteria: that entry's resource
    same_as: int | None = None


async def plan_transaction(ctx: Context, entries: list[BundleEntry]) -> Plan:
    writes = sorted((e for e in entries if phase_of(e) < 3), key=phase_of)
    plan = Plan()
    try:
        await _plan(ctx, writes, plan)
    except BaseException:
        plan.discard()
        raise
    return plan


async def _plan(ctx: Context, writes: list[BundleEntry], plan: Plan) -> None:
    targets: dict[int, _Target] = {}
    deleting: set[tuple[str, str]] = set()  # DELETE targets come first (phase order)
    creating: dict[tuple[str, tuple[tuple[str, str], ...]], BundleEntry] = {}
    for entry in writes:
        target = _repeated_create(entry, creating, targets)
        if target is None:
            target = await _guard(entry, _target(ctx, entry, deleting))
        targets[entry.index] = target
        if entry.route.interaction is Interaction.DELETE and target.id is not None:
            deleting.add((target.resource_type, target.id))
    _refuse_overlaps(writes, targets)
    replacements = {
        entry.full_url: f"{t.resource_type}/{t.id}"
        for entry in writes
        if entry.full_url and (t := targets[entry.index]).id is not None
    }
    resolver = _Resolver(ctx, replacements, deleting)
    for entry in writes:
        if targets[entry.index].same_as is not None:
            continue  # its resource is not written: the earlier entry's stands for it
        if entry.route.interaction in (Interaction.CREATE, Interaction.UPDATE):
            assert entry.resource is not None
            await _guard(entry, resolver.apply(entry.resource, plan, entry.full_url))
    for entry in writes:
        await _guard(entry, _build(ctx, entry, targets[entry.index], resolver, plan))


def _repeated_create(
    entry: BundleEntry,
    creating: dict[tuple[str, tuple[tuple[str, str], ...]], BundleEntry],
    targets: dict[int, _Target],
) -> _Target | None:
    """For a conditional create repeating an earlier entry's criteria and resource (two
    entries for one Practitioner, as Synthea bundles have), that entry's resource: one
    resource, both fullUrls naming it, as if the second had run after the first (HAPI
    FHIR merges them alike). Repeated criteria with another resource are refused, unless
    they match a resource already there: which new one the criteria should find is not
    for the server to guess. None otherwise, and the first is remembered."""
    criteria = entry.headers.get("if-none-exist")
    rtype = entry.route.resource_type
    if entry.route.interaction is not Interaction.CREATE or not criteria or rtype is None:
        return None
    try:
        parsed = [(k, v) for k, v in parse_criteria(criteria) if k not in CONTROL_PARAMS]
    except FhirError:
        return None  # refused with its entry named, when it is planned
    first = creating.setdefault((rtype, tuple(sorted(parsed))), entry)
    if first is entry:
        return None
    earlier = targets[first.index]
    # criteria matching a resource already there: both entries answer with it, whatever
    # they carry (neither would be written)
    if earlier.existing is None and _content(first.resource) != _content(entry.resource):
        raise at_entry(
            entry.index,
            BadRequest(
                f"Bundle.entry[{first.index}] creates a {rtype} with the same ifNoneExist and "
                "another content; a transaction may create by one criteria once",
                ("request.ifNoneExist",),
            ),
        )
    return replace(earlier, same_as=first.index)


def _content(resource: dict[str, Any] | None) -> dict[str, Any] | None:
    """A resource but for what the server sets (id, meta)."""
    if resource is None:
        return None
    return {k: v for k, v in resource.items() if k not in ("id", "meta")}


async def _guard(entry: BundleEntry, step: Any) -> Any:
    """Await `step`, naming the entry in any error it raises."""
    try:
        return await step
    except FhirError as error:
        raise at_entry(entry.index, error) from error


def _criteria(entry: BundleEntry) -> list[tuple[str, str]]:
    return [(k, v) for k, v in entry.params if k not in CONTROL_PARAMS]


async def _matches(
    ctx: Context, rtype: str, criteria: list[tuple[str, str]], deleting: set[tuple[str, str]]
) -> list[StoredVersion]:
    """Matches as the transaction sees them: without what its DELETEs remove."""
    found = await find_matches(ctx, rtype, criteria, ignored=len(deleting))
    return [m for m in found if (m.resource_type, m.id) not in deleting]


async def _one_match(
    ctx: Context,
    rtype: str,
    criteria: list[tuple[str, str]],
    what: str,
    deleting: set[tuple[str, str]],
) -> StoredVersion | None:
    matches = await _matches(ctx, rtype, criteria, deleting)
    if len(matches) > 1:
        raise PreconditionFailed(f"The {what} matched more than one {rtype}")
    return matches[0] if matches else None


async def _target(ctx: Context, entry: BundleEntry, deleting: set[tuple[str, str]]) -> _Target:
    interaction = entry.route.interaction
    rtype = entry.route.resource_type
    if interaction not in _WRITES or rtype is None:
        raise BadRequest(f"{entry.method} {entry.url[:80]} is not allowed in a transaction")
    if interaction is Interaction.CREATE:
        criteria = entry.headers.get("if-none-exist")
        if criteria:
            try:
                parsed = parse_criteria(criteria)
                found = await _one_match(ctx, rtype, parsed, "ifNoneExist", deleting)
                unless = criteria_plan(ctx, rtype, parsed)
            except FhirError as error:
                raise at_entry(entry.index, error, "request.ifNoneExist") from error
            if found is not None:
                return _Target(rtype, found.id, existing=found)
            return _Target(rtype, new_id(), unless_matched=unless)
        return _Target(rtype, new_id())
    if not entry.is_conditional:
        resource_id = entry.route.resource_id
        if interaction is Interaction.UPDATE:
            _check_body_id(entry, resource_id)
        return _Target(rtype, resource_id)
    what = f"conditional {entry.method}"
    try:
        found = await _one_match(ctx, rtype, _criteria(entry), what, deleting)
    except FhirError as error:
        raise at_entry(entry.index, error, "request.url") from error
    if interaction is Interaction.UPDATE:
        body_id = _check_body_id(entry, found.id if found else None, required=False)
        if found is not None:
            return _Target(rtype, found.id)
        if body_id is not None and (rtype, body_id) not in deleting:
            refuse_replacing(rtype, body_id, await ctx.store.read(rtype, body_id))
        # It creates: refused where the write is serialized if a racing write made a match
        # meanwhile (as ifNoneExist), and the transaction replans to update that one.
        unless = criteria_plan(ctx, rtype, _criteria(entry))
        return _Target(rtype, body_id or new_id(), unless_matched=unless)
    if found is None and interaction is Interaction.PATCH:
        raise NotFound(f"No {rtype} matched the conditional PATCH's criteria")
    return _Target(rtype, found.id if found else None)


def _check_body_id(
    entry: BundleEntry, expected: str | None, *, required: bool = True
) -> str | None:
    """The body's id, which must be the one the request names (a conditional update's
    body may leave it out)."""
    assert entry.resource is not None
    body_id = entry.resource.get("id")
    if body_id is not None and not isinstance(body_id, str):
        raise BadRequest("Resource.id must be a string", ("id",))
    if expected is not None and body_id != expected and (required or body_id is not None):
        said = "has no id" if body_id is None else f"has the id '{body_id[:64]}'"
        raise BadRequest(f"The resource {said}; its request names '{expected}'", ("id",))
    return check_id(body_id) if body_id is not None else None


def _refuse_overlaps(writes: list[BundleEntry], targets: dict[int, _Target]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for entry in writes:
        target = targets[entry.index]
        if target.id is None or target.existing is not None or target.same_as is not None:
            continue
        key = (target.resource_type, target.id)
        if key in seen:
            raise at_entry(
                entry.index,
                BadRequest(
                    f"{key[0]}/{key[1]} is also changed by Bundle.entry[{seen[key]}]; a "
                    "transaction may change each resource only once"
                ),
            )
        seen[key] = entry.index


def _rest_base(full_url: str | None) -> str | None:
    """The service base of a RESTful absolute URL `base/Type/id`, or None."""
    if full_url is None or "://" not in full_url:
        return None
    base, _, tail = full_url.rstrip("/").rpartition("/")
    base, _, rtype = base.rpartition("/")
    return base if is_resource_type(rtype) and tail and "://" in base else None


class _Resolver:
    """Rewrites a resource's references: fullUrls of the Bundle, conditional references."""

    def __init__(
        self, ctx: Context, replacements: dict[str, str], deleting: set[tuple[str, str]]
    ) -> None:
        self._ctx = ctx
        self._replacements = replacements
        self._deleting = deleting

    async def apply(self, resource: dict[str, Any], plan: Plan, full_url: str | None) -> None:
        """Rewrite `resource`, the resource of the entry with `full_url`."""
        holders = list(reference_holders(resource))
        # A relative reference means the entry of that type and id under the referring
        # entry's base (bundle.html#references): the server's own, for a urn:uuid entry.
        base = _rest_base(full_url) or self._ctx.request.base_url
        relative: dict[str, str] = {}
        for holder in holders:
            reference: str = holder["reference"]
            if reference in self._replacements:
                continue
            absolute = self._replacements.get(f"{base}/{reference}")
            if absolute is not None and _rest_base(f"{base}/{reference}") == base:
                relative[reference] = absolute
                continue
            if is_placeholder(reference):
                raise BadRequest(
                    f"The reference '{reference[:120]}' matches no entry's fullUrl in the Bundle"
                )
            if is_conditional_reference(reference):
                self._replacements[reference] = await self._resolve(reference)
        plan.undo += rewrite(holders, ChainMap(relative, self._replacements))
        plan.undo += rewrite_slots(placeholder_slots(resource), self._replacements)

    async def _resolve(self, reference: str) -> str:
        return await reference_target(self._ctx, reference, self._deleting)


async def _build(
    ctx: Context, entry: BundleEntry, target: _Target, resolver: _Resolver, plan: Plan
) -> None:
    rtype, resource_id = target.resource_type, target.id
    if target.same_as is not None:
        # the earlier entry matched or created it; this one finds it, as ifNoneExist does
        plan.results[entry.index] = replace(plan.results[target.same_as], status="200 OK")
        return
    if target.existing is not None:
        plan.results[entry.index] = EntryResult("200 OK", target.existing)
        return
    if resource_id is None:
        plan.results[entry.index] = EntryResult("204 No Content", note="nothing matched")
        return
    if_match = parse_if_match(entry.headers.get("if-match"))
    interaction = entry.route.interaction
    current = None
    if interaction is not Interaction.CREATE:
        current = await ctx.store.read(rtype, resource_id)
        if if_match is not None:
            if_match.current_version(f"{rtype}/{resource_id}", current)
    if interaction is Interaction.DELETE:
        if current is None or current.deleted:
            plan.results[entry.index] = EntryResult("204 No Content")
            return
        _add(plan, entry, prepare_delete(rtype, resource_id, current), "200 OK")
        return
    if interaction is Interaction.PATCH:
        if current is None:
            raise NotFound(f"{rtype}/{resource_id} is not known")
        if current.deleted:
            raise Gone(f"{rtype}/{resource_id} was deleted")
        resource = patched_resource(ctx, current, (entry.json_patch, entry.resource))
        await resolver.apply(resource, plan, entry.full_url)
        status, method = "200 OK", "PATCH"
    else:
        assert entry.resource is not None
        resource = entry.resource
        created = current is None or current.deleted
        status = "201 Created" if created else "200 OK"
        method = "POST" if interaction is Interaction.CREATE else "PUT"
    op, _ = prepare_put(
        ctx, resource, resource_type=rtype, resource_id=resource_id, current=current, method=method
    )
    if target.unless_matched is not None:  # a racing create's match: the transaction replans
        op = replace(op, unless_matched=target.unless_matched)
    _add(plan, entry, op, status)


def _add(plan: Plan, entry: BundleEntry, op: WriteOp, status: str) -> None:
    plan.ops.append(op)
    plan.op_entries.append(entry)
    stored = StoredVersion(
        op.resource_type, op.id, op.version, op.last_updated_us, op.method, op.body
    )
    plan.results[entry.index] = EntryResult(status, stored)
