"""Canonical UCUM units for quantity search (search.html#quantity)."""

from __future__ import annotations

import pytest

from fhir_server.search.ucum import canonical_unit


@pytest.mark.parametrize(
    ("unit", "factor", "code"),
    [
        ("mg", 1e-3, "g"),
        ("g", 1.0, "g"),
        ("kg", 1e3, "g"),
        ("[lb_av]", 453.59237, "g"),
        ("mL", 1e-6, "m3"),
        ("L", 1e-3, "m3"),
        ("mm", 1e-3, "m"),
        ("cm", 1e-2, "m"),
        ("[in_i]", 0.0254, "m"),
        ("s", 1.0, "s"),
        ("min", 60.0, "s"),
        ("h", 3600.0, "s"),
        ("d", 86400.0, "s"),
        ("mm[Hg]", 133322.0, "g.m-1.s-2"),
        ("%", 0.01, "1"),
        ("mg/dL", 10.0, "g.m-3"),
        ("g/dL", 1e4, "g.m-3"),
        ("mmol/L", 1.0, "m-3.mol"),
        ("kg/m2", 1e3, "g.m-2"),
        ("/min", 1 / 60, "s-1"),
        ("{beats}/min", 1 / 60, "s-1"),
        ("10*3/uL", 1e12, "m-3"),
        ("{score}", 1.0, "1"),
    ],
)
def test_canonical_units(unit: str, factor: float, code: str) -> None:
    found = canonical_unit(unit)
    assert found is not None
    assert found.factor == pytest.approx(factor)
    assert found.offset == 0.0
    assert found.code == code


def test_same_amount_in_different_units_is_one_canonical_value() -> None:
    per_dl, per_l = canonical_unit("mg/dL"), canonical_unit("mg/L")
    assert per_dl is not None and per_l is not None
    assert per_dl.code == per_l.code
    assert 5.4 * per_dl.factor == pytest.approx(54 * per_l.factor)


def test_division_applies_to_the_next_term_only() -> None:
    found = canonical_unit("mL/min/{1.73_m2}")
    assert found is not None
    assert found.code == "m3.s-1"
    assert found.factor == pytest.approx(1e-6 / 60)


@pytest.mark.parametrize(("unit", "kelvin_at_zero"), [("Cel", 273.15), ("[degF]", 255.372222)])
def test_temperatures_have_an_offset(unit: str, kelvin_at_zero: float) -> None:
    found = canonical_unit(unit)
    assert found is not None
    assert found.code == "K"
    assert found.offset == pytest.approx(kelvin_at_zero)


@pytest.mark.parametrize("unit", ["", "furlong", "[pH]", "mg//dL", "Cel/s", "(mg)"])
def test_units_outside_the_table_have_no_canonical_form(unit: str) -> None:
    assert canonical_unit(unit) is None
