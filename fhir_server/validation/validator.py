"""Strict structural validation of R4 (4.0.1) resources in their JSON form.

What is checked, and where the rule comes from:

- the resource is a JSON object with a known R4 `resourceType`
  (http://hl7.org/fhir/R4/json.html#resources), also for `contained` resources and for
  resource-typed elements such as `Bundle.entry.resource` and `Parameters.parameter.resource`;
- every property is a defined element of its type (http://hl7.org/fhir/R4/elementdefinition.html);
  a choice element appears as one variant only (http://hl7.org/fhir/R4/formats.html#choice);
- arrays exactly where the element repeats, single values where it does not, no empty objects,
  arrays or strings, primitives in their JSON form and lexical rule, `_name` extension siblings
  aligned with their values, nulls only inside such aligned arrays
  (http://hl7.org/fhir/R4/json.html);
- minimum cardinality, required `code` bindings that are small and local
  (http://hl7.org/fhir/R4/terminologies.html#required), and the rule ext-1 that an extension
  has either a value or nested extensions (http://hl7.org/fhir/R4/extensibility.html).

Invariants other than ext-1 (FHIRPath constraints) and profiles are not checked here.

The walk is iterative (an explicit stack), so hostile nesting can never exhaust the Python
stack; past `max_depth` it stops with a single `too-costly` issue.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fhir_server.errors import Issue
from fhir_server.resource_json import describe
from fhir_server.validation import messages as msg
from fhir_server.validation.primitives import Checker, build_checkers
from fhir_server.validation.structure import PRIMITIVE, RESOURCE, ElementDef, TypeDef
from fhir_server.validation.structure import load_structure as _load

__all__ = ["MAX_ISSUES", "validate_resource"]

MAX_ISSUES = 50

_Frame = tuple[dict[str, Any], TypeDef, str, int]


@cache
def _checkers() -> dict[str, Checker]:
    return build_checkers(_load().primitives)


def validate_resource(resource: object, *, max_depth: int = 32) -> list[Issue]:
    """Validate one resource (a parsed JSON value); an empty list means it is valid R4."""
    run = _Run(max_depth)
    type_def = run.resource_type(resource, "", expected="Resource")
    if type_def is not None and isinstance(resource, dict):
        run.walk(resource, type_def)
    return run.result()


class _Run:
    """The state of one validation: issues found so far and the depth guard."""

    __slots__ = ("checkers", "depth_reported", "issues", "max_depth", "stopped", "types")

    def __init__(self, max_depth: int) -> None:
        structure = _load()
        self.types = structure.types
        self.checkers = _checkers()
        self.max_depth = max_depth
        self.issues: list[Issue] = []
        self.depth_reported = False
        self.stopped = False

    def issue(self, code: str, diagnostics: str, path: str) -> None:
        self.issues.append(Issue(code, diagnostics, (path,) if path else ()))

    def result(self) -> list[Issue]:
        if not self.stopped and len(self.issues) <= MAX_ISSUES:
            return self.issues
        note = Issue(
            "too-costly",
            f"Validation stopped after the first {MAX_ISSUES} issues",
            severity="information",
        )
        return [*self.issues[:MAX_ISSUES], note]

    def resource_type(self, value: object, path: str, expected: str) -> TypeDef | None:
        """The TypeDef of a resource-valued JSON value, or None after reporting why not."""
        where = f"'{path}'" if path else "the resource"
        if not isinstance(value, dict):
            self.issue(
                "structure", f"Expected a JSON object for {where}, got {describe(value)}", path
            )
            return None
        rt = value.get("resourceType")
        if rt is None:
            self.issue("required", f"Missing 'resourceType' in {where}", path)
            return None
        type_def = self.types.get(rt) if isinstance(rt, str) else None
        if type_def is None or not type_def.is_resource:
            shown = f"'{rt[:64]}'" if isinstance(rt, str) else describe(rt)
            self.issue("structure", f"Unknown R4 resourceType {shown} in {where}", path)
            return None
        if expected != "Resource" and rt != expected:
            self.issue("structure", f"Expected a {expected} resource in {where}, got {rt}", path)
            return None
        return type_def

    def walk(self, root: dict[str, Any], type_def: TypeDef) -> None:
        stack: list[_Frame] = [(root, type_def, type_def.name, 0)]
        while stack and len(self.issues) < MAX_ISSUES:
            obj, tdef, path, depth = stack.pop()
            children: list[_Frame] = []
            self.visit(obj, tdef, path, depth, children)
            if children:
                children.reverse()  # so that siblings are visited in document order
                stack.extend(children)
        self.stopped = bool(stack) or len(self.issues) > MAX_ISSUES

    def visit(
        self, obj: dict[str, Any], tdef: TypeDef, path: str, depth: int, out: list[_Frame]
    ) -> None:
        """Check the properties of one object; queue its complex children on `out`."""
        elements = tdef.elements
        checkers = self.checkers
        choices: dict[str, str] | None = None
        for key, value in obj.items():
            el = elements.get(key)
            if el is None:
                el = self.sibling(obj, key, value, tdef, path, depth, out)
                if el is None or el.choice is None:
                    continue
            elif el.is_array:
                self.array(obj, key, value, el, path, depth, out)
            elif el.kind == PRIMITIVE:
                # the common, valid case inline; `single_primitive` works out what is wrong
                codes = el.codes
                if checkers[el.type](value) is not None or (codes and value not in codes):
                    self.single_primitive(key, value, el, path)
            elif type(value) is list:
                self.issue("structure", msg.not_array(key), f"{path}.{key}")
            else:
                self.complex(value, el, f"{path}.{key}", depth, out)
            if el.choice is not None:
                choices = self.choice(choices, el, path)
        for label, keys in tdef.required:
            if not any(k in obj for k in keys):
                message = f"Missing required element '{label}' in {tdef.name}"
                self.issue("required", message, f"{path}.{label}")
        if tdef.name == "Extension":
            has_value = choices is not None and "value" in choices
            if has_value == ("extension" in obj):
                self.issue("invariant", msg.EXT_1, path)

    def choice(self, seen: dict[str, str] | None, el: ElementDef, path: str) -> dict[str, str]:
        """Remember the variant of a choice element; two variants is an error."""
        assert el.choice is not None
        if seen is None:
            seen = {}
        first = seen.setdefault(el.choice, el.name)
        if first != el.name:
            message = (
                f"Only one of '{first}' and '{el.name}' may be present: "
                f"'{el.choice}[x]' is a choice of types"
            )
            self.issue("structure", message, f"{path}.{el.name}")
        return seen

    def array(
        self,
        obj: dict[str, Any],
        key: str,
        value: Any,
        el: ElementDef,
        path: str,
        depth: int,
        out: list[_Frame],
    ) -> None:
        if type(value) is not list:
            self.issue("structure", msg.must_be_array(key, value), f"{path}.{key}")
            return
        if not value:
            self.issue("structure", msg.empty_array(key), f"{path}.{key}")
            return
        if el.kind != PRIMITIVE:
            for i, item in enumerate(value):
                self.complex(item, el, f"{path}.{key}[{i}]", depth, out)
            return
        check = self.checkers[el.type]
        codes = el.codes
        for i, item in enumerate(value):
            if item is None:
                twins = obj.get("_" + key)
                if type(twins) is not list or i >= len(twins) or twins[i] is None:
                    self.issue("structure", msg.null_item(key), f"{path}.{key}[{i}]")
                continue
            message = check(item)
            if message is not None:
                self.issue("value", msg.bad_value(key, message), f"{path}.{key}[{i}]")
            elif codes is not None and item not in codes:
                self.issue("code-invalid", msg.bad_code(item, el), f"{path}.{key}[{i}]")

    def single_primitive(self, key: str, value: Any, el: ElementDef, path: str) -> None:
        message = self.checkers[el.type](value)
        if message is not None:
            code = "structure" if type(value) is list or value is None else "value"
            text = msg.not_array(key) if type(value) is list else msg.bad_value(key, message)
            self.issue(code, text, f"{path}.{key}")
        elif el.codes is not None and value not in el.codes:
            self.issue("code-invalid", msg.bad_code(value, el), f"{path}.{key}")

    def complex(self, value: Any, el: ElementDef, path: str, depth: int, out: list[_Frame]) -> None:
        """Queue an object-valued element (datatype, backbone element or resource)."""
        if type(value) is not dict:
            expected = "a resource" if el.kind == RESOURCE else el.type
            message = f"Expected a JSON object ({expected}) for '{el.name}', got {describe(value)}"
            self.issue("structure", message, path)
            return
        if not value:
            self.issue("structure", f"Empty object for '{el.name}' is not allowed", path)
            return
        if el.kind != RESOURCE and not el.name.startswith("_") and value.keys() == {"id"}:
            self.issue("structure", f"'{el.name}' holds only an id (ele-1)", path)
            return
        if depth >= self.max_depth:
            if not self.depth_reported:
                self.depth_reported = True
                message = (
                    f"Elements nest deeper than {self.max_depth} levels here; "
                    "such content is refused and was not validated further"
                )
                self.issue("too-costly", message, path)
            return
        tdef = self.resource_type(value, path, el.type) if el.kind == RESOURCE else None
        if el.kind == RESOURCE and tdef is None:
            return
        out.append((value, tdef or self.types[el.type], path, depth + 1))

    def sibling(
        self,
        obj: dict[str, Any],
        key: Any,
        value: Any,
        tdef: TypeDef,
        path: str,
        depth: int,
        out: list[_Frame],
    ) -> ElementDef | None:
        """A key that is no element: `_name` primitive extensions, `resourceType`, or unknown.

        Returns the primitive element a valid `_name` belongs to (for choice tracking).
        """
        if type(key) is str and key.startswith("_"):
            el = tdef.elements.get(key[1:])
            if el is not None and el.kind == PRIMITIVE:
                self.extension_sibling(obj, el, value, path, depth, out)
                return el
        elif key == "resourceType" and tdef.is_resource:
            return None  # checked by whoever queued this resource
        self.issue("structure", f"Unknown element '{key}' in {tdef.name}", f"{path}.{key}")
        return None

    def extension_sibling(
        self,
        obj: dict[str, Any],
        el: ElementDef,
        value: Any,
        path: str,
        depth: int,
        out: list[_Frame],
    ) -> None:
        """`_name`: id and extensions of primitive `name`, aligned item by item (json.html)."""
        name = el.name
        as_element = _as_element(el)
        if not el.is_array:
            if type(value) is list:
                self.issue("structure", msg.not_array("_" + name), f"{path}.{name}")
            elif obj.get(name) is None and _without_extensions(value):
                self.issue("structure", msg.no_value_nor_extension(name), f"{path}.{name}")
            else:
                self.complex(value, as_element, f"{path}.{name}", depth, out)
            return
        if type(value) is not list:
            self.issue("structure", msg.must_be_array("_" + name, value), f"{path}.{name}")
            return
        if not value:
            self.issue("structure", msg.empty_array("_" + name), f"{path}.{name}")
            return
        values = obj.get(name)
        if type(values) is list and len(values) != len(value):
            message = f"'_{name}' must have as many items as '{name}' ({len(values)})"
            self.issue("structure", message, f"{path}.{name}")
            return
        for i, item in enumerate(value):
            if item is None:
                if type(values) is not list:  # with values, `array` reports double nulls
                    self.issue("structure", msg.null_item(name), f"{path}.{name}[{i}]")
                continue
            valueless = type(values) is not list or values[i] is None
            if valueless and _without_extensions(item):
                self.issue("structure", msg.no_value_nor_extension(name), f"{path}.{name}[{i}]")
                continue
            self.complex(item, as_element, f"{path}.{name}[{i}]", depth, out)


def _without_extensions(twin: Any) -> bool:
    """Whether a primitive's `_name` object holds no extension (ele-1: without a value, a
    primitive needs one; an id alone is not enough)."""
    return type(twin) is dict and not twin.get("extension")


@cache
def _as_element(el: ElementDef) -> ElementDef:
    """The `_name` twin of a primitive element: an Element (id, extension) object."""
    return ElementDef("_" + el.name, "Element", 1, 0, el.max, el.is_array, *_NO_FLAGS)


_NO_FLAGS = (False, False, None, None, None)
