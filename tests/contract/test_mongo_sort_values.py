"""`search_sort.sort_values_of` (Python, for versions of the past) computes the same sort
values as the aggregation stages of `search_sort.sort_stages` (for stored documents): a
held `_sort` page merges rows ordered by both."""

from __future__ import annotations

import random

import mongomock

from fhir_server.search.entries import DateEntry, NumberEntry, StringEntry, TokenEntry
from fhir_server.search.plan import MIDDLE, SortKey
from fhir_server.storage.mongo.documents import Document, index_document
from fhir_server.storage.mongo.search_sort import sort_stages, sort_values_of

KEYS = (
    SortKey("birthdate", "date", "low"),
    SortKey("birthdate", "date", "high", descending=True),
    SortKey("family", "string", "value"),
    SortKey("family", "string", "value", descending=True),
    SortKey("value", "number", MIDDLE),
    SortKey("value", "number", MIDDLE, descending=True),
    SortKey("code", "token", "code"),
    SortKey("code", "token", "system", descending=True),
    SortKey("_id", "resource", "id"),
    SortKey("_lastUpdated", "resource", "last_updated_us", descending=True),
)


def _document(rng: random.Random, n: int) -> Document:
    entries = []
    for _ in range(rng.randint(0, 3)):
        low = rng.randint(-5, 5) * 86_400_000_000
        entries.append(DateEntry("birthdate", low, low + rng.randint(0, 3)))
    for _ in range(rng.randint(0, 2)):
        word = rng.choice(["ab", "b", "Ä", "aa", ""])
        entries.append(StringEntry("family", word.lower(), word))
    for _ in range(rng.randint(0, 2)):
        low = rng.choice([1, 2.5, -3, 10**15])
        entries.append(NumberEntry("value", low, low + rng.choice([0, 0.5, 1])))
    for _ in range(rng.randint(0, 2)):
        system = rng.choice(["http://a", None])
        entries.append(TokenEntry("code", system, rng.choice(["x", "y", None]), None))
    entries.append(StringEntry("other", "zz", "zz"))  # another parameter: never a key
    return {"id": f"r{n}", "updated": rng.randint(0, 10), "idx": index_document(entries)}


def test_python_sort_values_match_the_aggregation() -> None:
    rng = random.Random(7)
    docs = [_document(rng, n) for n in range(300)]
    collection = mongomock.MongoClient().db.resources
    collection.insert_many([dict(d) for d in docs])
    computed = list(collection.aggregate([*sort_stages(KEYS), {"$sort": {"id": 1}}]))
    by_id = {d["id"]: d for d in docs}
    fields = [f"_{x}{i}" for i in range(len(KEYS)) for x in "nv"]
    for row in computed:
        expected = sort_values_of(by_id[row["id"]], KEYS)
        assert {f: row[f] for f in fields} == {f: expected[f] for f in fields}, row["id"]
