"""Normalization of single values (search.html#string, #date, #number, #reference)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from fhir_server.search.normalize import (
    ParsedReference,
    date_range,
    decimal_range,
    fold,
    instant_point,
    parse_reference,
)


def us(year: int, month: int, day: int, *rest: int) -> int:
    """Microseconds since the epoch of a UTC datetime."""
    hour, minute, second, micro = (*rest, 0, 0, 0, 0)[:4]
    moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Müller", "muller"),
        ("ÉLODIE", "elodie"),
        ("Straße", "strasse"),
        ("Ångström", "angstrom"),
        ("Dickinson688", "dickinson688"),
        ("ﬁsh", "fish"),  # NFKD splits the ligature
    ],
)
def test_fold_strips_accents_and_case(text: str, expected: str) -> None:
    assert fold(text) == expected


class TestDateRange:
    def test_year_covers_the_whole_year(self) -> None:
        assert date_range("2020") == (us(2020, 1, 1), us(2021, 1, 1) - 1)

    def test_month_covers_the_whole_month_including_leap_day(self) -> None:
        assert date_range("2020-02") == (us(2020, 2, 1), us(2020, 3, 1) - 1)

    def test_december_rolls_into_next_year(self) -> None:
        assert date_range("2019-12") == (us(2019, 12, 1), us(2020, 1, 1) - 1)

    def test_day(self) -> None:
        low, high = date_range("1998-04-29") or (0, 0)
        assert (low, high) == (us(1998, 4, 29), us(1998, 4, 30) - 1)
        assert high - low == 86_400_000_000 - 1

    def test_minute_precision(self) -> None:
        assert date_range("2020-03-01T10:15Z") == (
            us(2020, 3, 1, 10, 15),
            us(2020, 3, 1, 10, 16) - 1,
        )

    def test_second_precision_with_offset_is_converted_to_utc(self) -> None:
        low, high = date_range("2016-09-13T06:53:25+02:00") or (0, 0)
        assert low == us(2016, 9, 13, 4, 53, 25)
        assert high == low + 999_999

    def test_fraction_keeps_its_precision(self) -> None:
        low, high = date_range("2016-09-13T06:53:25.12Z") or (0, 0)
        assert low == us(2016, 9, 13, 6, 53, 25, 120_000)
        assert high == us(2016, 9, 13, 6, 53, 25, 129_999)

    def test_datetime_without_timezone_is_utc(self) -> None:
        assert date_range("2016-09-13T06:53:25") == date_range("2016-09-13T06:53:25Z")

    def test_before_the_epoch_is_negative(self) -> None:
        low, _ = date_range("1969-12-31") or (0, 0)
        assert low == -86_400_000_000

    @pytest.mark.parametrize("text", ["", "20", "2020-13", "2020-02-30", "yesterday"])
    def test_invalid_dates_give_none(self, text: str) -> None:
        assert date_range(text) is None

    def test_instant_is_a_point(self) -> None:
        point = us(2016, 9, 13, 6, 53, 25, 123_000)
        assert instant_point("2016-09-13T06:53:25.123Z") == (point, point)


class TestDecimalRange:
    def test_integer_has_half_a_unit_either_side(self) -> None:
        assert decimal_range(100) == (99.5, 100.5)

    def test_one_decimal_from_float(self) -> None:
        low, high = decimal_range(100.0) or (0.0, 0.0)
        assert low == pytest.approx(99.95)
        assert high == pytest.approx(100.05)

    def test_decimal_keeps_trailing_zeros(self) -> None:
        low, high = decimal_range(Decimal("100.00")) or (0.0, 0.0)
        assert low == pytest.approx(99.995)
        assert high == pytest.approx(100.005)

    def test_json_text_is_accepted(self) -> None:
        assert decimal_range("100.00") == decimal_range(Decimal("100.00"))

    def test_float_precision_is_its_shortest_repr(self) -> None:
        low, high = decimal_range(64.75) or (0.0, 0.0)
        assert low == pytest.approx(64.745)
        assert high == pytest.approx(64.755)

    def test_exponent_notation(self) -> None:
        assert decimal_range("1e2") == (50.0, 150.0)

    @pytest.mark.parametrize("value", [True, None, "abc", "NaN", [1]])
    def test_non_numbers_give_none(self, value: object) -> None:
        assert decimal_range(value) is None


class TestParseReference:
    def test_relative(self) -> None:
        assert parse_reference("Patient/123") == ParsedReference("Patient", "123", None, None)

    def test_relative_with_history(self) -> None:
        found = parse_reference("Patient/123/_history/4")
        assert found == ParsedReference("Patient", "123", None, "4")

    def test_absolute_fhir_url_keeps_url_and_type_but_never_a_local_id(self) -> None:
        # another server's Observation/abc-1 must not be taken for this server's
        found = parse_reference("https://example.org/fhir/Observation/abc-1")
        assert found == ParsedReference(
            "Observation", None, "https://example.org/fhir/Observation/abc-1", None
        )

    def test_absolute_non_fhir_url(self) -> None:
        found = parse_reference("https://example.org/people/abc")
        assert found == ParsedReference(None, None, "https://example.org/people/abc", None)

    def test_canonical_with_version(self) -> None:
        found = parse_reference("http://hl7.org/fhir/ValueSet/my-vs|1.0")
        assert found == ParsedReference(
            "ValueSet", None, "http://hl7.org/fhir/ValueSet/my-vs", "1.0"
        )

    def test_urn_uuid_is_kept_as_url(self) -> None:
        text = "urn:uuid:742fc10a-c565-f636-3c05-5dcd28672194"
        assert parse_reference(text) == ParsedReference(None, None, text, None)

    def test_conditional_reference_is_not_split_at_its_bar(self) -> None:
        text = "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999"
        assert parse_reference(text) == ParsedReference(None, None, text, None)

    def test_contained_reference_is_skipped(self) -> None:
        assert parse_reference("#med1") is None

    def test_unknown_type_is_not_a_resource_reference(self) -> None:
        assert parse_reference("Patients/123") == ParsedReference(None, None, "Patients/123", None)
