"""The assertion operators of http://hl7.org/fhir/R4/valueset-assert-operator-codes.html.

An operand on the server side ("actual") is a list of texts: one item for a status code or
header, every item of a FHIRPath collection. The expected side is the assert's `value`
(one text; for `in`/`notIn` a comma-separated list) or, with compareToSourceId, the list
selected from that source.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

__all__ = ["OPERATORS", "compare", "describe"]

OPERATORS = frozenset(
    {
        "equals",
        "notEquals",
        "in",
        "notIn",
        "greaterThan",
        "lessThan",
        "empty",
        "notEmpty",
        "contains",
        "notContains",
        "eval",
    }
)


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None


def _order(actual: list[str], expected: list[str]) -> int | None:
    """-1/0/1 comparing one actual value with one expected value; None if not comparable."""
    if len(actual) != 1 or len(expected) != 1:
        return None
    left, right = _number(actual[0]), _number(expected[0])
    if left is not None and right is not None:
        return (left > right) - (left < right)
    # Dates, times and instants in FHIR's ISO 8601 form order as text.
    return (actual[0] > expected[0]) - (actual[0] < expected[0])


def _members(expected: list[str], from_value: bool) -> set[str]:
    if from_value:
        return {item.strip() for text in expected for item in text.split(",")}
    return set(expected)


def compare(operator: str, actual: list[str], expected: list[str], from_value: bool) -> bool:
    """Whether `actual <operator> expected` holds.

    `from_value` says the expected side is the assert's `value` text (so `in` splits it at
    commas) rather than a collection selected from a compareToSourceId.
    """
    if operator == "equals":
        return actual == expected
    if operator == "notEquals":
        return actual != expected
    if operator == "in":
        members = _members(expected, from_value)
        return bool(actual) and all(item in members for item in actual)
    if operator == "notIn":
        members = _members(expected, from_value)
        return not any(item in members for item in actual)
    if operator in ("greaterThan", "lessThan"):
        order = _order(actual, expected)
        return order is not None and order == (1 if operator == "greaterThan" else -1)
    if operator == "empty":
        return not any(item != "" for item in actual)
    if operator == "notEmpty":
        return any(item != "" for item in actual)
    if operator == "contains":
        return bool(expected) and all(any(e in a for a in actual) for e in expected)
    if operator == "notContains":
        return not any(any(e in a for a in actual) for e in expected)
    if operator == "eval":
        return actual == ["true"]
    raise ValueError(f"unknown operator '{operator}'")


def _show(values: list[str]) -> str:
    if not values:
        return "nothing"
    if len(values) == 1:
        return repr(values[0])
    shown = ", ".join(repr(v) for v in values[:5])
    return f"[{shown}{', ...' if len(values) > 5 else ''}] ({len(values)} values)"


def describe(operator: str, actual: list[str], expected: list[str]) -> str:
    """'expected <operator> <expected>, got <actual>' for a report message."""
    if operator in ("empty", "notEmpty", "eval"):
        wanted = {"empty": "to be empty", "notEmpty": "to be present", "eval": "true"}[operator]
        return f"expected {wanted}, got {_show(actual)}"
    return f"expected {operator} {_show(expected)}, got {_show(actual)}"
