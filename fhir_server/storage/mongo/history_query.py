"""History queries over the `history` collection: newest first, paged by `seq`.

Mirrors `fhir_server.storage.sqlite.history_sql`: the same filters, the same order.
"""

from __future__ import annotations

from fhir_server.storage.contracts import HistoryQuery
from fhir_server.storage.mongo.documents import Document
from fhir_server.storage.mongo.search_query import clamp_int64

__all__ = ["history_filter"]


def history_filter(tenant: str, query: HistoryQuery) -> Document:
    """The versions a history query selects, before paging."""
    found: Document = {"tenant": tenant}
    if query.resource_type is not None:
        found["type"] = query.resource_type
        if query.id is not None:
            found["id"] = query.id
    if query.since_us is not None:
        found["updated"] = {"$gte": clamp_int64(query.since_us)}
    if query.at_low_us is not None and query.at_high_us is not None:
        # current at some moment of [low, high]: began by high, not ended before low
        began = {"updated": {"$lte": clamp_int64(query.at_high_us)}}
        not_ended = {"$or": [{"ended": None}, {"ended": {"$gt": clamp_int64(query.at_low_us)}}]}
        found["$and"] = [began, not_ended]
    return found
