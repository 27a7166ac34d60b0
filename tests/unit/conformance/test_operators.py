"""The assert operators (conformance.operators)."""

from __future__ import annotations

import pytest

from conformance.operators import compare, describe


@pytest.mark.parametrize(
    ("operator", "actual", "expected", "holds"),
    [
        ("equals", ["200"], ["200"], True),
        ("equals", ["201"], ["200"], False),
        ("equals", ["a", "b"], ["a"], False),
        ("notEquals", ["201"], ["200"], True),
        ("in", ["204"], ["200,204"], True),
        ("in", ["404"], ["200, 204"], False),
        ("in", [], ["200"], False),
        ("notIn", ["404"], ["200,204"], True),
        ("notIn", ["200"], ["200,204"], False),
        ("greaterThan", ["10"], ["9"], True),  # numerically, not as text
        ("greaterThan", ["1"], ["5"], False),
        ("lessThan", ["2019-01-01"], ["2020-01-01"], True),
        ("lessThan", ["a", "b"], ["c"], False),
        ("empty", [], [], True),
        ("empty", [""], [], True),
        ("empty", ["x"], [], False),
        ("notEmpty", ["x"], [], True),
        ("notEmpty", [], [], False),
        ("contains", ["http://x/Patient?family=a"], ["family"], True),
        ("contains", ["abc"], ["z"], False),
        ("notContains", ["abc"], ["z"], True),
        ("notContains", ["abc"], ["b"], False),
        ("eval", ["true"], [], True),
        ("eval", ["false"], [], False),
    ],
)
def test_operators(operator: str, actual: list[str], expected: list[str], holds: bool) -> None:
    assert compare(operator, actual, expected, from_value=True) is holds


def test_in_with_a_compared_collection_does_not_split_commas() -> None:
    assert compare("in", ["a,b"], ["a,b", "c"], from_value=False)
    assert not compare("in", ["a"], ["a,b"], from_value=False)


def test_unknown_operator_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown operator"):
        compare("like", ["a"], ["a"], from_value=True)


def test_descriptions_say_what_was_expected_and_what_came() -> None:
    assert describe("equals", ["201"], ["200"]) == "expected equals '200', got '201'"
    assert describe("notEmpty", [], []) == "expected to be present, got nothing"
    text = describe("equals", [str(i) for i in range(7)], ["1"])
    assert "(7 values)" in text
