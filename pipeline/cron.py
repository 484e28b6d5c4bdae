"""Five-field cron expressions, checked here before a scheduler ever sees them.

Vertex AI and Kubeflow accept a schedule and fail later (or never fire) when
its cron is wrong. Parsing it locally names the bad field, and computing the
next fire times catches expressions that are valid but never fire (30 February).
Semantics follow Vixie cron, which both schedulers use: when both day-of-month
and day-of-week are restricted, a day matching either fires.
"""
from __future__ import annotations

import dataclasses
import datetime
from typing import FrozenSet, List, Optional

import zoneinfo

FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))   # day-of-week 7 is Sunday, like 0
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_NAMES = (None, None, None, {m: i + 1 for i, m in enumerate(_MONTHS)}, {d: i for i, d in enumerate(_WEEKDAYS)})
_SEARCH_DAYS = 4 * 366 + 1   # every date pattern repeats within 4 years (29 February included)


class CronError(ValueError):
    """The expression or time zone is invalid; the message says which field and why."""


@dataclasses.dataclass(frozen=True)
class CronSpec:
    minutes: FrozenSet[int]
    hours: FrozenSet[int]
    days: FrozenSet[int]
    months: FrozenSet[int]
    weekdays: FrozenSet[int]          # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def matches_date(self, date: datetime.date) -> bool:
        if date.month not in self.months:
            return False
        day_ok = date.day in self.days
        weekday_ok = (date.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return day_ok or weekday_ok
        return day_ok and weekday_ok


def parse(expression: str) -> CronSpec:
    """Parses ``minute hour day-of-month month day-of-week`` and checks that it ever fires."""
    fields = expression.split()
    if len(fields) != len(FIELD_NAMES):
        raise CronError(f"expected {len(FIELD_NAMES)} fields ({' '.join(FIELD_NAMES)}), got {len(fields)}; "
                        "e.g. '0 3 * * 1' = Mondays at 03:00 (no seconds field, no time zone prefix: "
                        "the time zone is its own setting)")
    values = [_parse_field(text, index) for index, text in enumerate(fields)]
    weekdays = frozenset(d % 7 for d in values[4])
    spec = CronSpec(frozenset(values[0]), frozenset(values[1]), frozenset(values[2]), frozenset(values[3]),
                    weekdays, days_restricted=fields[2] != "*", weekdays_restricted=fields[4] != "*")
    if not any(spec.matches_date(datetime.date(2024, 1, 1) + datetime.timedelta(days=n))
               for n in range(_SEARCH_DAYS)):
        raise CronError(f"{expression!r} never fires (no date has that day of the month in those months)")
    return spec


def time_zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CronError(f"got {name!r}; expected an IANA time zone name such as UTC, Europe/Berlin "
                        "or America/New_York") from None


def next_fire_times(expression: str, zone: str, after: datetime.datetime, count: int = 3
                    ) -> List[datetime.datetime]:
    """The next ``count`` times (in ``zone``) strictly after ``after`` (an aware datetime)."""
    spec, tz = parse(expression), time_zone(zone)
    start = after.astimezone(tz)
    found: List[datetime.datetime] = []
    for offset in range(_SEARCH_DAYS):
        date = start.date() + datetime.timedelta(days=offset)
        if not spec.matches_date(date):
            continue
        for hour in sorted(spec.hours):
            for minute in sorted(spec.minutes):
                moment = datetime.datetime(date.year, date.month, date.day, hour, minute, tzinfo=tz)
                if moment > start and _exists(moment):
                    found.append(moment)
                    if len(found) == count:
                        return found
    return found


def _exists(moment: datetime.datetime) -> bool:
    """False for wall-clock times skipped by a daylight-saving jump."""
    round_trip = moment.astimezone(datetime.timezone.utc).astimezone(moment.tzinfo)
    return round_trip.replace(tzinfo=None) == moment.replace(tzinfo=None)


def _parse_field(text: str, index: int) -> set:
    name, (low, high) = FIELD_NAMES[index], _RANGES[index]
    result: set = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"{name} field {text!r}: empty item in the list")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise CronError(f"{name} field {text!r}: step {step_text!r} must be an integer >= 1")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            start_text, _, end_text = base.partition("-")
            first, last = _value(start_text, index, text), _value(end_text, index, text)
            if first > last:
                raise CronError(f"{name} field {text!r}: range {base!r} runs backwards")
        else:
            first = _value(base, index, text)
            last = high if slash else first
        result.update(range(first, last + 1, step))
    return result


def _value(token: str, index: int, field_text: str) -> int:
    name, (low, high), names = FIELD_NAMES[index], _RANGES[index], _NAMES[index]
    number: Optional[int] = None
    if token.isdigit():
        number = int(token)
    elif names and token.upper() in names:
        number = names[token.upper()]
    if number is None or not low <= number <= high:
        allowed = f"{low}-{high}" + (f" or {'/'.join(list(names)[:3])}/..." if names else "")
        raise CronError(f"{name} field {field_text!r}: {token!r} is not in {allowed}")
    return number
