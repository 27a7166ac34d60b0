"""`WriteOp.unless_matched`, the same for every backend: which search a batch of ops runs
to refuse a conditional create, and what counts as a match.

A batch's criteria see the database as it was before the batch (a transaction's own
creates do not trip them), less what the batch deletes (http.html#transaction): so the
search is run before any op is applied, asking for as many more matches as the batch
deletes, and a match the batch deletes does not count.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from fhir_server.search.plan import SearchPlan
from fhir_server.storage.contracts import StoredVersion, WriteOp

__all__ = ["Deleted", "checks", "deleted_by", "matched_outside"]

Deleted = set[tuple[str, str]]


def deleted_by(ops: Sequence[WriteOp]) -> Deleted:
    """The (type, id) of every resource the batch deletes."""
    return {(op.resource_type, op.id) for op in ops if op.body is None}


def checks(ops: Sequence[WriteOp], deleted: Deleted) -> Iterator[tuple[int, SearchPlan]]:
    """(op index, search to run) for each conditional create of the batch."""
    for index, op in enumerate(ops):
        if op.unless_matched is not None:
            plan = op.unless_matched
            yield index, replace(plan, count=1 + len(deleted), total="none", cursor=None, sort=())


def matched_outside(matches: Sequence[StoredVersion], deleted: Deleted) -> bool:
    """Whether a match survives the batch: the conditional create must be refused."""
    return any((m.resource_type, m.id) not in deleted for m in matches)
