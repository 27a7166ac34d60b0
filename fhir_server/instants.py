"""FHIR instants and HTTP dates, from integer microseconds since the Unix epoch (UTC).

Storage keeps times as integers (cheap to index and compare); FHIR documents show them as
`instant` values with microsecond precision (http://hl7.org/fhir/R4/datatypes.html#instant).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

__all__ = [
    "format_instant",
    "http_date",
    "is_instant",
    "last_modified",
    "now_us",
    "parse_fhir_datetime_range",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATETIME = re.compile(
    r"(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d+))?)?"
    # the zones datatypes.html#dateTime allows: -14:00 to +14:00
    r"(?P<tz>Z|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00))?)?)?)?",
    re.ASCII,  # 0-9 only: other scripts' digits are no FHIR date
)


def now_us() -> int:
    """The current time in microseconds since the epoch."""
    return time.time_ns() // 1000


def _datetime_of(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def format_instant(us: int) -> str:
    """`2026-11-26T20:26:36.123456Z`."""
    return _datetime_of(us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(us: int) -> str:
    """RFC 9110 IMF-fixdate, for Last-Modified (`Sun, 06 Nov 1994 08:49:37 GMT`). Written
    out here: email.utils.format_datetime costs a read by id ~5 % of its time."""
    moment = _datetime_of(us)
    return (
        f"{_DAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month]} {moment.year:04d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} GMT"
    )


def last_modified(us: int) -> str:
    """The Last-Modified of a version stamped at `us`: its time, but never later than now.
    RFC 9110 (8.8.2.1) forbids a Last-Modified later than the response's Date, and a
    version's time can be ahead of the clock (it is kept past the one before it when the
    clock steps back: writes.next_timestamp)."""
    return http_date(min(us, now_us()))


_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")


def is_instant(text: str) -> bool:
    """Whether `text` has the shape of an instant: a time to the second, and a zone
    (datatypes.html#instant: "The time zone SHALL be populated")."""
    return _INSTANT.fullmatch(text.strip()) is not None


def parse_fhir_datetime_range(text: str) -> tuple[int, int] | None:
    """The [low, high] microsecond range a FHIR date/dateTime/instant covers, or None.

    The range keeps the precision of the text: `2020-03` covers all of March 2020.
    A dateTime without a time zone is taken as UTC.
    """
    match = _DATETIME.fullmatch(text.strip())
    if not match:
        return None
    parts = match.groupdict()
    try:
        low, step = _low_and_step(parts)
    except ValueError:
        return None
    # Integer arithmetic from here on: 9999-12-31 (a common "no end") has no datetime
    # after it, and a time zone can shift a range past year 1 or 9999.
    offset_us = _us_since_epoch(_EPOCH + _tz_offset(parts["tz"]))
    try:
        end_us = _us_since_epoch(_add_step(low, step))
    except (OverflowError, ValueError):
        end_us = _us_since_epoch(datetime.max.replace(tzinfo=UTC)) + 1
    return _us_since_epoch(low) - offset_us, end_us - offset_us - 1


def _low_and_step(parts: dict[str, str | None]) -> tuple[datetime, str]:
    year = int(parts["y"] or 0)
    if parts["m"] is None:
        return datetime(year, 1, 1, tzinfo=UTC), "year"
    if parts["d"] is None:
        return datetime(year, int(parts["m"]), 1, tzinfo=UTC), "month"
    day = datetime(year, int(parts["m"]), int(parts["d"]), tzinfo=UTC)
    if parts["H"] is None:
        return day, "day"
    hour, minute = int(parts["H"] or 0), int(parts["M"] or 0)
    if parts["S"] is None:
        return day.replace(hour=hour, minute=minute), "minute"
    moment = day.replace(hour=hour, minute=minute, second=int(parts["S"] or 0))
    fraction = parts["f"]
    if fraction is None:
        return moment, "second"
    digits = fraction[:6]
    moment = moment.replace(microsecond=int(digits.ljust(6, "0")))
    return moment, f"fraction{len(digits)}"


def _add_step(moment: datetime, step: str) -> datetime:
    if step == "year":
        return moment.replace(year=moment.year + 1)
    if step == "month":
        return moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1)
    if step == "day":
        return moment + timedelta(days=1)
    if step == "minute":
        return moment + timedelta(minutes=1)
    if step == "second":
        return moment + timedelta(seconds=1)
    return moment + timedelta(microseconds=10 ** (6 - int(step.removeprefix("fraction"))))


def _tz_offset(tz: str | None) -> timedelta:
    if tz is None or tz == "Z":
        return timedelta(0)
    sign = 1 if tz[0] == "+" else -1
    return sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))


def _us_since_epoch(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
