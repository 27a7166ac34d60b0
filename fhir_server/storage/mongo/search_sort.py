"""`_sort`: the aggregation stages that order a match set, and the cursor test.

Mirrors the SQLite adapter: each key orders by the lowest (ascending) or highest
(descending) value among the resource's entries for the parameter, resources without one
after those with one, and every order ends with `pos`, so it is total and a cursor (the
last row's order values) says exactly where the next page starts. Per key the order
values are `_n{i}` (1 when the value is missing) and `_v{i}` (the value, or 0), the same
pair SQLite compares, so a cursor holds `(_n0, _v0, _n1, _v1, ...)`.

Inside aggregation expressions a string starting with `$` names a field, so every value
there is wrapped in `$literal`; only this module's own field names are left bare.
"""

from __future__ import annotations

from fhir_server.search.plan import MIDDLE, Cursor, SortKey
from fhir_server.storage.mongo.documents import ARRAYS, FIELDS, Document
from fhir_server.storage.mongo.search_query import all_of, any_of, operand

__all__ = ["OrderField", "cursor_filter", "order_fields", "sort_stages", "sort_values_of"]

# (computed field, descending): the full order of a sorted search, `pos` last.
OrderField = tuple[str, bool]

_RESOURCE_FIELDS = {"id": "$id", "last_updated_us": "$updated"}


def _key_value(index: int, key: SortKey) -> list[Document]:
    """Stages computing `_k{index}`: the key's value for this resource, or null."""
    if key.kind == "resource":
        return [{"$addFields": {f"_k{index}": _RESOURCE_FIELDS[key.field]}}]
    array = ARRAYS[key.kind]
    entries = {
        "$filter": {
            "input": {"$ifNull": [f"$idx.{array}", []]},
            "as": "e",
            "cond": {"$eq": ["$$e.p", {"$literal": operand(key.param)}]},
        }
    }
    # $ifNull turns an entry without the field into null (not every engine maps a
    # missing field to null by itself), which $min/$max then skip.
    if key.field == MIDDLE:  # a range entry's value: the middle of `low` and `high`
        low, high = (f"$$e.{FIELDS[key.kind][end]}" for end in ("low", "high"))
        value: object = {"$divide": [{"$add": [low, high]}, 2]}
    else:
        value = {"$ifNull": [f"$$e.{FIELDS[key.kind][key.field]}", None]}
    values = {"$map": {"input": entries, "as": "e", "in": value}}
    # $min/$max over the array skip nulls, like SQL's MIN/MAX; two stages because
    # applying them to an inline expression is not understood everywhere.
    aggregate = "$max" if key.descending else "$min"
    return [
        {"$addFields": {f"_a{index}": values}},
        {"$addFields": {f"_k{index}": {aggregate: f"$_a{index}"}}},
    ]


def sort_stages(keys: tuple[SortKey, ...]) -> list[Document]:
    """Stages adding `_n{i}`/`_v{i}` for every key (to be followed by $match/$sort)."""
    stages: list[Document] = []
    flags: Document = {}
    for index, key in enumerate(keys):
        stages += _key_value(index, key)
        value = f"$_k{index}"
        flags[f"_n{index}"] = {"$cond": [{"$eq": [{"$ifNull": [value, None]}, None]}, 1, 0]}
        flags[f"_v{index}"] = {"$ifNull": [value, 0]}
    if flags:
        stages.append({"$addFields": flags})
    return stages


def sort_values_of(doc: Document, keys: tuple[SortKey, ...]) -> Document:
    """`{_n0: ..., _v0: ..., ...}` for a document not in the collection (a version of the
    past, search_held), computed in Python exactly as `sort_stages` computes them."""
    fields: Document = {}
    for index, key in enumerate(keys):
        value = _key_of(doc, key)
        fields[f"_n{index}"] = 1 if value is None else 0
        fields[f"_v{index}"] = 0 if value is None else value
    return fields


def _key_of(doc: Document, key: SortKey) -> object:
    if key.kind == "resource":
        return doc.get(_RESOURCE_FIELDS[key.field][1:])
    names = FIELDS[key.kind]
    values = []
    for element in doc.get("idx", {}).get(ARRAYS[key.kind], []):
        if element.get("p") != key.param:
            continue
        if key.field == MIDDLE:
            values.append((element[names["low"]] + element[names["high"]]) / 2)
        elif element.get(names[key.field]) is not None:
            values.append(element[names[key.field]])
    if not values:
        return None
    return max(values) if key.descending else min(values)


def order_fields(keys: tuple[SortKey, ...]) -> list[OrderField]:
    fields: list[OrderField] = []
    for index, key in enumerate(keys):
        fields += [(f"_n{index}", False), (f"_v{index}", key.descending)]
    return [*fields, ("pos", False)]


def cursor_filter(order: list[OrderField], cursor: Cursor, back: bool) -> Document | None:
    """Rows strictly after (or, going back, before) the cursor in `order`; None when the
    cursor does not fit the order (not one issued for this search)."""
    values = [*cursor.sort_values, cursor.position]
    if len(values) != len(order):
        return None
    branches = []
    for i, (field, descending) in enumerate(order):
        op = "$lt" if descending != back else "$gt"
        equal = [{order[j][0]: operand(values[j])} for j in range(i)]
        branches.append(all_of([*equal, {field: {op: operand(values[i])}}]))
    return any_of(branches)
