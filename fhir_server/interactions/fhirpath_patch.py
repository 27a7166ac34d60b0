"""FHIRPath Patch: a Parameters resource of operations (http://hl7.org/fhir/R4/fhirpatch.html).

Each `operation` parameter has the parts `type` (add, insert, delete, replace, move),
`path` (FHIRPath), and as the type needs `name`, `value`, `index`, `source`,
`destination`. Operations apply in order to a deep copy; a malformed patch is 400, a patch
that does not fit the resource (a path that selects nothing or too much) is 422.
"""

from __future__ import annotations

import copy
from typing import Any

from fhir_server.errors import BadRequest, UnprocessableEntity
from fhir_server.interactions.fhirpath_locator import (
    Slot,
    element_def,
    locate,
    parse_patch_path,
    type_of,
)
from fhir_server.search.expression import Field
from fhir_server.validation.structure import ElementDef, load_structure

__all__ = ["apply_fhirpath_patch", "is_fhirpath_patch"]

_TYPES = ("add", "insert", "delete", "replace", "move")


def is_fhirpath_patch(body: dict[str, Any] | None) -> bool:
    return body is not None and body.get("resourceType") == "Parameters"


def apply_fhirpath_patch(resource: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """A patched copy of `resource`."""
    operations = parameters.get("parameter")
    if not isinstance(operations, list) or not operations:
        raise BadRequest("A FHIRPath Patch needs at least one 'operation' parameter")
    result = copy.deepcopy(resource)
    for index, parameter in enumerate(operations):
        where = f"Parameters.parameter[{index}]"
        if not isinstance(parameter, dict) or parameter.get("name") != "operation":
            raise BadRequest(f"{where}: every parameter of a FHIRPath Patch is an 'operation'")
        _apply(result, _parts(parameter, where), where)
    return result


def _parts(parameter: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    parts: dict[str, dict[str, Any]] = {}
    for part in parameter.get("part") or []:
        if not isinstance(part, dict) or not isinstance(part.get("name"), str):
            raise BadRequest(f"{where}: each part needs a name")
        if part["name"] in parts:
            raise BadRequest(f"{where}: the part '{part['name'][:40]}' is given twice")
        parts[part["name"]] = part
    return parts


def _primitive(parts: dict[str, dict[str, Any]], name: str, where: str) -> Any:
    part = parts.get(name)
    if part is None:
        raise BadRequest(f"{where}: the part '{name}' is missing")
    for key, value in part.items():
        if key.startswith("value"):
            return value
    raise BadRequest(f"{where}: the part '{name}' has no value")


def _integer(parts: dict[str, dict[str, Any]], name: str, where: str) -> int:
    value = _primitive(parts, name, where)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadRequest(f"{where}: '{name}' must be a non-negative integer")
    return value


def _apply(resource: dict[str, Any], parts: dict[str, dict[str, Any]], where: str) -> None:
    kind = _primitive(parts, "type", where)
    if kind not in _TYPES:
        raise BadRequest(f"{where}: type must be one of {', '.join(_TYPES)}")
    path = _primitive(parts, "path", where)
    if not isinstance(path, str):
        raise BadRequest(f"{where}: path must be a string")
    steps = parse_patch_path(path)
    if kind in ("insert", "move"):
        _list_operation(resource, kind, steps, parts, where)
        return
    slots = locate(resource, steps)
    if kind == "delete":
        if len(slots) > 1:
            raise UnprocessableEntity(f"{where}: '{path[:80]}' selects {len(slots)} elements")
        if slots:
            _delete(slots[0])
        return
    if len(slots) != 1:
        raise UnprocessableEntity(
            f"{where}: '{path[:80]}' must select exactly one element, not {len(slots)}"
        )
    if kind == "replace":
        slot = slots[0]
        if slot.element is None:
            raise UnprocessableEntity(f"{where}: replace cannot replace the whole resource")
        slot.parent[slot.key] = _value(parts, slot.element, where)  # type: ignore[index]
        return
    _add(slots[0], parts, where)


def _add(slot: Slot, parts: dict[str, dict[str, Any]], where: str) -> None:
    container = slot.value
    type_def = type_of(container, slot.element) if isinstance(container, dict) else None
    name = _primitive(parts, "name", where)
    if type_def is None or not isinstance(name, str):
        raise UnprocessableEntity(f"{where}: add needs a path to an object and a name")
    element = _named_element(type_def.name, element_def(type_def, name), parts, where)
    value = _value(parts, element, where)
    if element.is_array:
        values = container.setdefault(element.name, [])
        twin = _twin(container, element.name)
        if twin is not None:
            values.extend([None] * (len(twin) - len(values)))  # items of extensions alone
            twin.append(None)  # the new item has no id or extensions of its own
        values.append(value)
    elif element.name in container:
        raise UnprocessableEntity(f"{where}: '{element.name}' already has a value; use replace")
    else:
        container[element.name] = value


def _named_element(
    type_name: str, found: list[ElementDef], parts: dict[str, dict[str, Any]], where: str
) -> ElementDef:
    if len(found) == 1:
        return found[0]
    value_key = next((k for k in parts.get("value", {}) if k.startswith("value")), None)
    if found and value_key is not None:
        wanted = value_key.removeprefix("value")
        for element in found:
            if element.name == f"{element.choice}{wanted}":
                return element
    raise UnprocessableEntity(f"{where}: {type_name} has no element of that name and type")


def _list_operation(
    resource: dict[str, Any],
    kind: str,
    steps: tuple[Any, ...],
    parts: dict[str, dict[str, Any]],
    where: str,
) -> None:
    if not steps or not isinstance(steps[-1], Field):
        raise BadRequest(f"{where}: {kind} needs a path ending in a repeating element's name")
    owners = locate(resource, steps[:-1])
    if len(owners) != 1 or not isinstance(owners[0].value, dict):
        raise UnprocessableEntity(f"{where}: the path must lead to exactly one element")
    owner = owners[0].value
    type_def = type_of(owner, owners[0].element)
    found = element_def(type_def, steps[-1].name) if type_def else []
    if len(found) != 1 or not found[0].is_array:
        raise UnprocessableEntity(f"{where}: {kind} works on a repeating element")
    element = found[0]
    items: list[Any] = owner.get(element.name) or []
    if kind == "insert":
        index = _integer(parts, "index", where)
        if index > len(items):
            raise UnprocessableEntity(f"{where}: index {index} is past the end ({len(items)})")
        items.insert(index, _value(parts, element, where))
        twin = _twin(owner, element.name)
        if twin is not None:
            twin.insert(index, None)
    else:
        source = _integer(parts, "source", where)
        destination = _integer(parts, "destination", where)
        if source >= len(items) or destination >= len(items):
            raise UnprocessableEntity(f"{where}: move positions must be below {len(items)}")
        items.insert(destination, items.pop(source))
        twin = _twin(owner, element.name)
        if twin is not None and len(twin) > max(source, destination):
            twin.insert(destination, twin.pop(source))  # the extensions move with the value
    owner[element.name] = items


def _twin(owner: dict[str, Any], name: str) -> list[Any] | None:
    """A repeating primitive's `_name` list (its items' ids and extensions, aligned item by
    item with the values, json.html), which every change to the list must follow."""
    twin = owner.get(f"_{name}")
    return twin if isinstance(twin, list) else None


def _delete(slot: Slot) -> None:
    owner, name = slot.owner, slot.name
    if isinstance(slot.parent, list):
        del slot.parent[slot.key]  # type: ignore[arg-type]
        sibling = owner.get(f"_{name}")
        if isinstance(sibling, list) and len(sibling) > int(slot.key):
            del sibling[int(slot.key)]  # keep the primitive's extensions aligned (json.html)
        if not slot.parent:
            owner.pop(name, None)  # FHIR JSON has no empty arrays
            owner.pop(f"_{name}", None)
    else:
        owner.pop(name, None)
        owner.pop(f"_{name}", None)


def _value(parts: dict[str, dict[str, Any]], element: ElementDef, where: str) -> Any:
    part = parts.get("value")
    if part is None:
        raise BadRequest(f"{where}: the part 'value' is missing")
    return _part_value(part, element.type, where)


def _part_value(part: dict[str, Any], type_name: str, where: str) -> Any:
    for key, value in part.items():
        if key.startswith("value"):
            return copy.deepcopy(value)
    nested = part.get("part")
    if not isinstance(nested, list) or not nested:
        raise BadRequest(f"{where}: the value part has neither value[x] nor parts")
    # A backbone element (no datatype of its own) is given as parts, one per child.
    type_def = load_structure().types.get(type_name)
    built: dict[str, Any] = {}
    for child in nested:
        name = child.get("name") if isinstance(child, dict) else None
        if not isinstance(name, str):
            raise BadRequest(f"{where}: each nested part needs a name")
        element = type_def.elements.get(name) if type_def else None
        value = _part_value(child, element.type if element else "", where)
        if element is not None and element.is_array:
            built.setdefault(name, []).append(value)
        else:
            built[name] = value
    return built
