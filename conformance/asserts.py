"""TestScript asserts (testscript-definitions.html#TestScript.setup.action.assert).

An assert may name several things to check (say `responseCode` and `contentType`); each is
checked and all must hold. The subject is the last exchange, or the one named by
`sourceId`; `direction: request` checks what was sent instead of what came back. The
expected side is `value`, or with `compareToSourceId` the value selected from that source
by `compareToSourceExpression`/`compareToSourcePath`. The operator defaults to `equals`.
With neither a value nor a compareToSourceId, an `expression` or `path` must yield
`true` (for a boolean result) or something (for any other), and a `headerField` must be
present: the scripts in the wild use them that way.

A check that ran and did not hold fails the assert, or only warns when `warningOnly` is
true. An assert that cannot be evaluated (unknown fixture, bad FHIRPath, nothing named to
check) is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conformance.content import Content, media_type, mime_type
from conformance.fixtures import FixtureError, FixtureStore, flag
from conformance.minimum import missing_elements, navigation_problems
from conformance.operators import OPERATORS, compare, describe
from conformance.outcome import Outcome, said
from conformance.paths import PathError, evaluate_expression, evaluate_path, to_text
from conformance.profiles import Profile, check_profile
from conformance.transport import Exchange
from conformance.variables import UnresolvedVariableError, VariableScope

__all__ = ["RESPONSE_CODES", "AssertContext", "evaluate_assert"]

RESPONSE_CODES = {
    "okay": 200,
    "created": 201,
    "noContent": 204,
    "notModified": 304,
    "bad": 400,
    "forbidden": 403,
    "notFound": 404,
    "methodNotAllowed": 405,
    "conflict": 409,
    "gone": 410,
    "preconditionFailed": 412,
    "unprocessable": 422,
}
_CODE_NAMES = {code: name for name, code in RESPONSE_CODES.items()}


class AssertError(Exception):
    """The assert cannot be evaluated."""


@dataclass
class AssertContext:
    """What an assert can see: fixtures and exchanges, variables, profiles."""

    store: FixtureStore
    scope: VariableScope
    profiles: dict[str, Profile]
    base_url: str


Check = tuple[bool, str]


def evaluate_assert(spec: dict[str, Any], ctx: AssertContext) -> Outcome:
    """Evaluate one assert into its TestReport result and message."""
    operator = str(spec.get("operator") or "equals")
    try:
        if operator not in OPERATORS:
            raise AssertError(f"unknown operator '{operator}'")
        if spec.get("compareToSourceId") and not any(
            spec.get(k) for k in ("expression", "path", "headerField")
        ):
            raise AssertError("compareToSourceId needs an expression, path or headerField")
        checks = [check(spec, ctx, operator) for key, check in _CHECKS if key in spec]
    except (AssertError, FixtureError, PathError, UnresolvedVariableError, LookupError) as exc:
        return Outcome("assert", "error", said(spec, "assert", str(exc)))
    if not checks:
        return Outcome("assert", "error", said(spec, "assert", "the assert names nothing to check"))
    message = said(spec, "assert", "; ".join(text for _, text in checks))
    if all(ok for ok, _ in checks):
        return Outcome("assert", "pass", message)
    return Outcome("assert", "warning" if flag(spec.get("warningOnly")) else "fail", message)


def _is_request(spec: dict[str, Any]) -> bool:
    return spec.get("direction") == "request"


def _exchange(spec: dict[str, Any], ctx: AssertContext) -> Exchange:
    source_id = spec.get("sourceId")
    exchange = ctx.store.exchange(str(source_id) if source_id else None)
    if exchange is None:
        if source_id:
            raise AssertError(f"'{source_id}' is a fixture, not an HTTP exchange")
        raise AssertError("no operation has run yet")
    return exchange


def _content(spec: dict[str, Any], ctx: AssertContext) -> Content | None:
    source_id = spec.get("sourceId")
    return ctx.store.content(str(source_id) if source_id else None, _is_request(spec))


def _expected(spec: dict[str, Any], ctx: AssertContext) -> tuple[list[str], bool] | None:
    """The expected side: ([value], True), (values from compareToSourceId, False), or None."""
    if spec.get("value") is not None:
        return [ctx.scope.substitute(str(spec["value"]))], True
    source_id = spec.get("compareToSourceId")
    if not source_id:
        return None
    content = ctx.store.content(str(source_id))
    if content is None:
        raise AssertError(f"compareToSourceId '{source_id}' has no body")
    if spec.get("compareToSourceExpression"):
        expression = ctx.scope.substitute(str(spec["compareToSourceExpression"]))
        return [to_text(v) for v in evaluate_expression(expression, content)], False
    if spec.get("compareToSourcePath"):
        path = ctx.scope.substitute(str(spec["compareToSourcePath"]))
        return evaluate_path(path, content)[:1], False
    raise AssertError("compareToSourceId needs compareToSourceExpression or compareToSourcePath")


def _compared(
    label: str, operator: str, actual: list[str], expected: list[str], from_value: bool
) -> Check:
    ok = compare(operator, actual, expected, from_value)
    return ok, f"{label}: {describe(operator, actual, expected)}"


def _selected(
    label: str, spec: dict[str, Any], ctx: AssertContext, operator: str, values: list[Any]
) -> Check:
    """Compare selected values (expression/path) with the expected side."""
    expected = _expected(spec, ctx)
    if expected is None and operator in ("equals", "eval"):
        if len(values) == 1 and isinstance(values[0], bool):
            return values[0], f"{label}: expected true, got {to_text(values[0])}"
        return bool(values), f"{label}: expected a value, got {len(values)}"
    texts = [to_text(v) for v in values]
    wanted, from_value = expected if expected is not None else ([], True)
    return _compared(label, operator, texts, wanted, from_value)


def _check_response(spec: dict[str, Any], ctx: AssertContext, operator: str) -> Check:
    exchange = _exchange(spec, ctx)
    if exchange.status is None:
        return False, f"response: no response ({exchange.error})"
    actual = _CODE_NAMES.get(exchange.status, str(exchange.status))
    ok, text = _compared("response", operator, [actual], [str(spec["response"])], True)
    return ok, f"{text} (HTTP {exchange.status})"


def _check_response_code(spec: dict[str, Any], ctx: AssertContext, operator: str) -> Check:
    exchange = _exchange(spec, ctx)
    if exchange.status is None:
        return False, f"responseCode: no response ({exchange.error})"
    wanted = ctx.scope.substitute(str(spec["responseCode"])).replace(" ", "")
    return _compared("responseCode", operator, [str(exchange.status)], [wanted], True)


def _check_content_type(spec: dict[str, Any], ctx: AssertContext, operator: str) -> Check:
    exchange = _exchange(spec, ctx)
    header = exchange.header("content-type", _is_request(spec))
    actual = [media_type(header)] if header else []
    wanted = mime_type(ctx.scope.substitute(str(spec["contentType"])), None) or ""
    return _compared("Content-Type", operator, actual, [media_type(wanted)], True)


def _check_header(spec: dict[str, Any], ctx: AssertContext, operator: str) -> Check:
    field = ctx.scope.substitute(str(spec["headerField"]))
    exchange = _exchange(spec, ctx)
    value = exchange.header(field, _is_request(spec))
    actual = [value] if value is not None else []
    expected = _expected(spec, ctx)
    if expected is None and operator == "equals":
        return value is not None, f"header {field}: expected to be present, got {value!r}"
    wanted, from_value = expected if expected is not None else ([], True)
    return _compared(f"header {field}", operator, actual, wanted, from_value)


def _check_resource(spec: dict[str, Any], ctx: AssertContext, operator: str) -> Check:
    content = _content(spec, ctx)
    actual = [content.resource_type] if content and content.resource_type else []
    return _compared("resource type", operator, actual, [str(spec["resource"])], True)


def _check_request_method(spec: dict[str, Any], ctx: AssertContext, operator: str) -> Check:
    method = _exchange(spec, ctx).method.lower()
    wanted = str(spec["requestMethod"]).lower()
    return _compared("request method", operator, [method], [wanted], True)


def _check_request_url(spec: dict[str, Any], ctx: AssertContext, operator: str) -> Check:
    url = _exchange(spec, ctx).url
    wanted = ctx.scope.substitute(str(spec["requestURL"]))
    base = ctx.base_url.rstrip("/")
    if operator in ("equals", "notEquals") and "://" not in wanted and url.startswith(base):
        # A relative requestURL is compared with the URL relative to the base URL.
        url, wanted = url[len(base) :].lstrip("/"), wanted.lstrip("/")
    return _compared("request URL", operator, [url], [wanted], True)


def _check_expression(spec: dict[str, Any], ctx: AssertContext, operator: str) -> Check:
    expression = ctx.scope.substitute(str(spec["expression"]))
    content = _content(spec, ctx)
    if content is None:
        return False, f"expression {expression}: there is no body to evaluate"
    return _selected(
        f"expression {expression}", spec, ctx, operator, evaluate_expression(expression, content)
    )


def _check_path(spec: dict[str, Any], ctx: AssertContext, operator: str) -> Check:
    path = ctx.scope.substitute(str(spec["path"]))
    content = _content(spec, ctx)
    if content is None:
        return False, f"path {path}: there is no body to evaluate"
    return _selected(f"path {path}", spec, ctx, operator, evaluate_path(path, content)[:1])


def _check_minimum(spec: dict[str, Any], ctx: AssertContext, operator: str) -> Check:
    minimum_id = ctx.scope.substitute(str(spec["minimumId"]))
    minimum = ctx.store.content(minimum_id)
    content = _content(spec, ctx)
    if minimum is None:
        raise AssertError(f"minimumId '{minimum_id}' has no body")
    if content is None:
        return False, f"minimumId {minimum_id}: there is no resource to compare"
    missing = missing_elements(minimum.data, content.data)
    if missing:
        return False, f"minimumId {minimum_id}: not contained; " + ", ".join(missing)
    return True, f"minimumId {minimum_id}: all its elements are present"


def _check_navigation(spec: dict[str, Any], ctx: AssertContext, operator: str) -> Check:
    if not flag(spec["navigationLinks"]):
        return True, "navigationLinks: false, nothing to check"
    content = _content(spec, ctx)
    problems = navigation_problems(content.data if content else None)
    if problems:
        return False, "navigationLinks: " + "; ".join(problems)
    return True, "navigationLinks: the Bundle's links are usable"


def _check_profile(spec: dict[str, Any], ctx: AssertContext, operator: str) -> Check:
    profile_id = str(spec["validateProfileId"])
    profile = ctx.profiles.get(profile_id)
    if profile is None:
        raise AssertError(f"no TestScript.profile with id '{profile_id}'")
    return check_profile(profile, _content(spec, ctx))


_CHECKS: list[tuple[str, Callable[[dict[str, Any], AssertContext, str], Check]]] = [
    ("response", _check_response),
    ("responseCode", _check_response_code),
    ("contentType", _check_content_type),
    ("headerField", _check_header),
    ("resource", _check_resource),
    ("requestMethod", _check_request_method),
    ("requestURL", _check_request_url),
    ("expression", _check_expression),
    ("path", _check_path),
    ("minimumId", _check_minimum),
    ("navigationLinks", _check_navigation),
    ("validateProfileId", _check_profile),
]
