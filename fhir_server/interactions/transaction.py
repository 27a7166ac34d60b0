"""transaction: http://hl7.org/fhir/R4/http.html#transaction.

All or nothing: every write of the Bundle is planned first (see `transaction_plan`), then
committed as one compare-and-swap over all its ops, in one database transaction. Any
failure (an invalid resource in the last entry, an unresolvable `urn:uuid:`, a conditional
reference without exactly one match, two entries changing one resource, a stale ifMatch)
answers with an OperationOutcome naming the entry, and nothing is stored.

GET and HEAD entries run last, after the commit, so they see the transaction's writes.
They cannot undo it: a read that fails reports its error in its own entry.
"""

from __future__ import annotations

from fhir_server.errors import BadRequest, Conflict, FhirError, PreconditionFailed
from fhir_server.exchange import FhirResponse, Interaction
from fhir_server.interactions.bundle_entries import (
    BundleEntry,
    at_entry,
    entry_request,
    parse_entries,
    phase_of,
)
from fhir_server.interactions.bundle_response import (
    error_entry,
    response_bundle,
    response_entry,
    stored_entry,
)
from fhir_server.interactions.context import Context
from fhir_server.interactions.transaction_plan import Plan, plan_transaction
from fhir_server.interactions.writes import contention_pause, validate_body
from fhir_server.storage.contracts import TransactionsUnsupported, VersionConflict

__all__ = ["TransactionNotSupported", "transaction"]

# Attempts of a transaction that lost a compare-and-swap race to a concurrent writer
# (only when none of its entries names a version with ifMatch).
_MAX_ATTEMPTS = 10


class TransactionNotSupported(BadRequest):
    code = "not-supported"


_NO_TRANSACTIONS = (
    "This server's storage cannot apply several writes atomically (MongoDB needs a replica "
    "set for multi-document transactions); send a batch Bundle instead"
)


async def transaction(ctx: Context) -> FhirResponse:
    request = ctx.request
    if request.body is None:
        raise BadRequest("A transaction needs a Bundle in the body")
    if not await ctx.store.supports_transactions():
        raise TransactionNotSupported(_NO_TRANSACTIONS)
    entries = parse_entries(request.body, "transaction", request.base_url)
    _refuse_duplicate_full_urls(entries)
    for entry in entries:
        if entry.route.interaction in (Interaction.CREATE, Interaction.UPDATE):
            assert entry.resource is not None and entry.route.resource_type is not None
            try:
                validate_body(ctx, entry.resource, entry.route.resource_type)
            except FhirError as error:
                raise at_entry(entry.index, error) from error
    plan = await _commit(ctx, entries)
    by_index: dict[int, bytes] = {}
    for index, result in plan.results.items():
        by_index[index] = stored_entry(request, result.status, result.stored, result.note)
    for entry in entries:
        if phase_of(entry) == 3:
            by_index[entry.index] = await _read(ctx, entry)
    return response_bundle("transaction-response", [by_index[e.index] for e in entries])


async def _commit(ctx: Context, entries: list[BundleEntry]) -> Plan:
    for attempt in range(_MAX_ATTEMPTS):
        plan = await plan_transaction(ctx, entries)
        try:
            await ctx.store.commit(plan.ops)
        except TransactionsUnsupported as exc:
            plan.discard()
            raise TransactionNotSupported(_NO_TRANSACTIONS) from exc
        except VersionConflict as conflict:
            plan.discard()
            entry = plan.op_entries[conflict.op_index]
            if "if-match" in entry.headers:
                raise at_entry(
                    entry.index,
                    PreconditionFailed(
                        f"ifMatch names version {entry.headers['if-match'][:20]}, which another "
                        "request has just replaced"
                    ),
                ) from conflict
            await contention_pause(attempt)
            continue
        return plan
    raise Conflict("The resources of this transaction are being changed by others; try again")


async def _read(ctx: Context, entry: BundleEntry) -> bytes:
    assert ctx.run_entry is not None
    try:
        answer = await ctx.run_entry(entry_request(ctx.request, entry))
    except FhirError as error:
        return error_entry(error)
    return response_entry(ctx.request, entry, answer)


def _refuse_duplicate_full_urls(entries: list[BundleEntry]) -> None:
    """bundle.html#bundle-unique: fullUrl is unique within a transaction."""
    seen: dict[str, int] = {}
    for entry in entries:
        if entry.full_url is None:
            continue
        if entry.full_url in seen:
            raise at_entry(
                entry.index,
                BadRequest(
                    f"fullUrl '{entry.full_url[:120]}' is also the fullUrl of "
                    f"Bundle.entry[{seen[entry.full_url]}]; each entry needs its own"
                ),
            )
        seen[entry.full_url] = entry.index
