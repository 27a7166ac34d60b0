"""JSON Patch (RFC 6902) details that a FHIR client relies on."""

from __future__ import annotations

import pytest

from fhir_server.errors import BadRequest, UnprocessableEntity
from fhir_server.interactions.json_patch import apply_json_patch


def test_pointer_escapes_and_array_end() -> None:
    resource = {"a/b": {"m~n": [1, 2]}}
    patched = apply_json_patch(resource, [{"op": "add", "path": "/a~1b/m~0n/-", "value": 3}])
    assert patched == {"a/b": {"m~n": [1, 2, 3]}}
    assert resource == {"a/b": {"m~n": [1, 2]}}  # the original is untouched


def test_test_compares_json_values_not_python_ones() -> None:
    with pytest.raises(UnprocessableEntity):
        apply_json_patch({"active": True}, [{"op": "test", "path": "/active", "value": 1}])
    apply_json_patch({"n": 1}, [{"op": "test", "path": "/n", "value": 1.0}])  # 1 == 1.0 in JSON


def test_replace_keeps_the_key_in_place_and_a_failure_changes_nothing() -> None:
    resource = {"resourceType": "Patient", "id": "p", "gender": "male", "active": True}
    patched = apply_json_patch(resource, [{"op": "replace", "path": "/gender", "value": "other"}])
    assert list(patched) == ["resourceType", "id", "gender", "active"]
    with pytest.raises(UnprocessableEntity):
        apply_json_patch(
            resource,
            [{"op": "remove", "path": "/active"}, {"op": "remove", "path": "/missing"}],
        )
    assert resource["active"] is True


def test_move_and_copy() -> None:
    patched = apply_json_patch(
        {"a": [1, 2, 3], "b": {}},
        [
            {"op": "move", "from": "/a/0", "path": "/a/2"},
            {"op": "copy", "from": "/a", "path": "/b/c"},
        ],
    )
    assert patched == {"a": [2, 3, 1], "b": {"c": [2, 3, 1]}}


@pytest.mark.parametrize(
    "document",
    [{"op": "add"}, [{"op": "add", "path": "/x"}], [{"op": "move", "path": "/x"}], ["add"]],
)
def test_malformed_documents_are_400(document: object) -> None:
    with pytest.raises(BadRequest):
        apply_json_patch({}, document)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["/a~2b", "/a~", "/~x/0"])
def test_a_tilde_is_only_ever_escaped_zero_or_one(path: str) -> None:
    """RFC 6901 section 3: the pointer is malformed (400), not an unknown element (422)."""
    with pytest.raises(BadRequest, match="~ must be ~0 or ~1"):
        apply_json_patch({"a": 1}, [{"op": "add", "path": path, "value": 1}])
