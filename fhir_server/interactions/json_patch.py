"""JSON Patch (RFC 6902) over a resource's JSON, for PATCH (http://hl7.org/fhir/R4/http.html#patch).

A patch is applied to a deep copy: a failing operation in the middle leaves the stored
resource untouched, and the patched result is validated by the caller before it is stored.
A malformed document is the client's syntax error (400); a well-formed patch that cannot
apply to this resource (a path that does not exist, a failed `test`) is 422, naming the
operation by its index.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import orjson

from fhir_server.errors import BadRequest, UnprocessableEntity
from fhir_server.resource_json import load_json
from fhir_server.text import clamped_int, is_ascii_digits

__all__ = ["JSON_PATCH_MEDIA", "apply_json_patch", "is_json_patch_media", "parse_json_patch"]

JSON_PATCH_MEDIA = "application/json-patch+json"
_OPS = {"add", "remove", "replace", "move", "copy", "test"}
_NEEDS_VALUE = {"add", "replace", "test"}
_NEEDS_FROM = {"move", "copy"}
# A patch is a short list of edits; a huge one is a mistake or an attack on CPU time.
MAX_OPERATIONS = 1000


def is_json_patch_media(content_type: str | None) -> bool:
    return (
        content_type is not None and content_type.split(";")[0].strip().lower() == JSON_PATCH_MEDIA
    )


def parse_json_patch(raw: bytes) -> list[Any]:
    """The operations of a JSON Patch document, checked for shape (400 otherwise)."""
    try:
        document = load_json(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The JSON Patch is not valid JSON: {exc.msg}") from exc
    check_json_patch(document)
    assert isinstance(document, list)
    return document


def check_json_patch(document: object) -> None:
    if not isinstance(document, list):
        raise BadRequest("A JSON Patch document is a JSON array of operations")
    if len(document) > MAX_OPERATIONS:
        raise BadRequest(f"A JSON Patch may hold at most {MAX_OPERATIONS} operations")
    for index, operation in enumerate(document):
        where = f"JSON Patch operation {index}"
        if not isinstance(operation, dict):
            raise BadRequest(f"{where} is not a JSON object")
        op = operation.get("op")
        if op not in _OPS:
            raise BadRequest(f"{where}: 'op' must be one of {', '.join(sorted(_OPS))}")
        if not isinstance(operation.get("path"), str):
            raise BadRequest(f"{where}: 'path' must be a JSON Pointer string")
        _pointer(operation["path"], where)
        if op in _NEEDS_VALUE and "value" not in operation:
            raise BadRequest(f"{where}: '{op}' needs a 'value'")
        if op in _NEEDS_FROM:
            if not isinstance(operation.get("from"), str):
                raise BadRequest(f"{where}: '{op}' needs a 'from' JSON Pointer")
            _pointer(operation["from"], where)


def apply_json_patch(resource: dict[str, Any], document: list[Any]) -> dict[str, Any]:
    """A patched copy of `resource`; UnprocessableEntity when an operation cannot apply."""
    check_json_patch(document)
    root: Any = copy.deepcopy(resource)
    for index, operation in enumerate(document):
        root = _apply_one(root, operation, f"JSON Patch operation {index}")
    if not isinstance(root, dict):
        raise UnprocessableEntity("The JSON Patch replaced the resource with a non-object")
    return root


def _apply_one(root: Any, operation: dict[str, Any], where: str) -> Any:
    op = operation["op"]
    path = _pointer(operation["path"], where)
    if op == "test":
        if not _json_equal(_get(root, path, where), operation["value"]):
            raise UnprocessableEntity(f"{where}: test failed at '{operation['path'][:120]}'")
        return root
    if op == "remove":
        _remove(root, path, where)
        return root
    if op == "add":
        return _add(root, path, copy.deepcopy(operation["value"]), where)
    if op == "replace":
        return _replace(root, path, copy.deepcopy(operation["value"]), where)
    source = _pointer(operation["from"], where)
    if op == "move":
        if path[: len(source)] == source and len(path) > len(source):
            raise UnprocessableEntity(f"{where}: cannot move a value into itself")
        value = _get(root, source, where)
        _remove(root, source, where)
    else:
        value = copy.deepcopy(_get(root, source, where))
    return _add(root, path, value, where)


def _pointer(text: str, where: str) -> list[str]:
    """RFC 6901: '' is the whole document, '/a/0' the steps a and 0 (~1 is '/', ~0 '~')."""
    if text == "":
        return []
    if not text.startswith("/"):
        raise BadRequest(f"{where}: '{text[:80]}' is not a JSON Pointer (it must start with /)")
    if _BAD_ESCAPE.search(text):  # RFC 6901 section 3: `~` is only ever `~0` or `~1`
        raise BadRequest(f"{where}: '{text[:80]}' is not a JSON Pointer (~ must be ~0 or ~1)")
    return [part.replace("~1", "/").replace("~0", "~") for part in text[1:].split("/")]


_BAD_ESCAPE = re.compile(r"~(?![01])")


def _index(container: list[Any], step: str, where: str, *, allow_end: bool) -> int:
    if step == "-" and allow_end:
        return len(container)  # RFC 6901: "-" is the (nonexistent) element after the last
    if not is_ascii_digits(step) or (len(step) > 1 and step.startswith("0")):
        raise UnprocessableEntity(f"{where}: '{step[:40]}' is not an array index")
    limit = len(container) if allow_end else len(container) - 1
    position = clamped_int(step, limit + 1)
    if position > limit:
        raise UnprocessableEntity(f"{where}: index {step[:40]} is past the end of the array")
    return position


def _parent(root: Any, path: list[str], where: str) -> Any:
    return _get(root, path[:-1], where)


def _get(root: Any, path: list[str], where: str) -> Any:
    node = root
    for token in path:
        if isinstance(node, dict):
            if token not in node:
                raise UnprocessableEntity(f"{where}: no element '{token[:60]}' at that path")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, where, allow_end=False)]
        else:
            raise UnprocessableEntity(f"{where}: the path goes through a primitive value")
    return node


def _add(root: Any, path: list[str], value: Any, where: str) -> Any:
    if not path:
        return value
    parent = _parent(root, path, where)
    token = path[-1]
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, token, where, allow_end=True), value)
    else:
        raise UnprocessableEntity(f"{where}: cannot add a value inside a primitive")
    return root


def _replace(root: Any, path: list[str], value: Any, where: str) -> Any:
    _get(root, path, where)  # the target must exist
    if not path:
        return value
    parent = _parent(root, path, where)
    if isinstance(parent, dict):
        parent[path[-1]] = value  # in place: the element keeps its position
    else:
        parent[_index(parent, path[-1], where, allow_end=False)] = value
    return root


def _remove(root: Any, path: list[str], where: str) -> None:
    if not path:
        raise UnprocessableEntity(f"{where}: cannot remove the whole resource")
    parent = _parent(root, path, where)
    token = path[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise UnprocessableEntity(f"{where}: no element '{token[:60]}' to remove")
        del parent[token]
    elif isinstance(parent, list):
        del parent[_index(parent, token, where, allow_end=False)]
    else:
        raise UnprocessableEntity(f"{where}: cannot remove inside a primitive")


def _json_equal(left: Any, right: Any) -> bool:
    """JSON equality (RFC 6902 section 4.6): unlike Python's ==, true is not 1."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(
            _json_equal(a, b) for a, b in zip(left, right, strict=True)
        )
    return type(left) is type(right) and bool(left == right)
