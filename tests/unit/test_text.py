"""Reading numbers from request text without Python's 4,300-digit ValueError."""

from __future__ import annotations

import pytest

from fhir_server.text import clamped_int


@pytest.mark.parametrize(
    ("digits", "expected"),
    [("0", 0), ("17", 17), ("1000", 1000), ("1001", 1000), ("000012", 12), ("9" * 5000, 1000)],
)
def test_clamped_int(digits: str, expected: int) -> None:
    assert clamped_int(digits, 1000) == expected
