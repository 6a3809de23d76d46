"""Time intervals as Alertmanager writes them: weekdays, times of day, days of the month, months and years, in a
time zone. A route mutes its notifications while a ``mute_time_intervals`` entry holds, and sends only while an
``active_time_intervals`` entry holds.

Within one interval every given field must match (an absent field matches everything); a named interval holds
when any of its intervals does. Times are ``HH:MM`` with ``end_time`` exclusive; ranges are inclusive
(``monday:friday``, ``1:5``; negative days count from the month's end, ``-1`` being its last day).
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")


class TimeIntervalError(ValueError):
    """A field of a time interval that cannot be read; the message is the expected form."""


@dataclass(frozen=True)
class TimeRange:
    start_minute: int  # minutes after midnight, inclusive
    end_minute: int  # exclusive; 1440 is the end of the day


@dataclass(frozen=True)
class TimeInterval:
    times: tuple[TimeRange, ...] = ()
    weekdays: tuple[tuple[int, int], ...] = ()  # 0 = Monday, inclusive ranges
    days_of_month: tuple[tuple[int, int], ...] = ()  # 1..31 or -31..-1
    months: tuple[tuple[int, int], ...] = ()  # 1..12
    years: tuple[tuple[int, int], ...] = ()
    location: str = "UTC"

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.location))
        if self.times:
            minute = local.hour * 60 + local.minute
            if not any(r.start_minute <= minute < r.end_minute for r in self.times):
                return False
        if self.weekdays and not _in_ranges(local.weekday(), self.weekdays):
            return False
        if self.days_of_month:
            length = calendar.monthrange(local.year, local.month)[1]
            if not any(_day_in(local.day, low, high, length) for low, high in self.days_of_month):
                return False
        if self.months and not _in_ranges(local.month, self.months):
            return False
        return not (self.years and not _in_ranges(local.year, self.years))


def any_contains(intervals: Sequence[TimeInterval], moment: datetime) -> bool:
    return any(interval.contains(moment) for interval in intervals)


def _in_ranges(value: int, ranges: Sequence[tuple[int, int]]) -> bool:
    return any(low <= value <= high for low, high in ranges)


def _day_in(day: int, low: int, high: int, length: int) -> bool:
    low = low if low > 0 else length + low + 1
    high = high if high > 0 else length + high + 1
    return low <= day <= high


def parse_time_range(start: str, end: str) -> TimeRange:
    low, high = _minutes(start, "start_time"), _minutes(end, "end_time")
    if high <= low:
        raise TimeIntervalError("an end_time after the start_time")
    return TimeRange(low, high)


def _minutes(text: str, name: str) -> int:
    form = f"{name} as HH:MM (00:00 to 24:00)"
    if not isinstance(text, str) or len(text) != 5 or text[2] != ":" or not (text[:2] + text[3:]).isdigit():
        raise TimeIntervalError(form)
    hours, minutes = int(text[:2]), int(text[3:])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise TimeIntervalError(form)
    return hours * 60 + minutes


def parse_ranges(values: Sequence[str | int], kind: str) -> tuple[tuple[int, int], ...]:
    """``["monday:friday", "sunday"]``, ``["1:5", "-1"]``, ``["january:march"]``, ``["2026"]`` as ranges."""
    parsed = []
    for value in values:
        text = str(value).strip().lower()
        low_text, _, high_text = text.partition(":")
        low, high = _value(low_text, kind), _value(high_text or low_text, kind)
        if kind == "days_of_month" and (low < 0) != (high < 0):
            raise TimeIntervalError("a range of days both from the start (1:5) or both from the end (-3:-1)")
        if low > high:
            raise TimeIntervalError(f"a range from low to high in {kind}, got {value!r}")
        parsed.append((low, high))
    return tuple(parsed)


_EXPECTED = {
    "weekdays": "weekday names or ranges such as monday:friday",
    "months": "month names or numbers, or ranges such as january:march",
    "days_of_month": "days 1 to 31 or -31 to -1, or ranges such as 1:5",
    "years": "years or ranges such as 2026:2027",
}


def _value(text: str, kind: str) -> int:
    if kind == "weekdays":
        if text in WEEKDAYS:
            return WEEKDAYS.index(text)
    elif kind == "months":
        if text in MONTHS:
            return MONTHS.index(text) + 1
        if text.isdigit() and 1 <= int(text) <= 12:
            return int(text)
    elif kind == "days_of_month":
        number = text[1:] if text.startswith("-") else text
        if number.isdigit() and 1 <= int(number) <= 31:
            return int(text)
    elif kind == "years" and text.isdigit():
        return int(text)
    raise TimeIntervalError(_EXPECTED[kind])
