"""Five-field cron expressions, checked here before a scheduler ever sees them.

Vertex AI and Kubeflow accept a schedule and fail later (or never fire) when
its cron is wrong. Checking it locally names the bad field, keeps to plain
five-field syntax (no seconds, ``L``, ``W``, ``#``, ``?`` or ``@daily``; ranges
run forwards) and catches expressions that are valid but never fire (30 February).
``croniter`` walks the calendar; where it reads cron its own way, the rules
stay here: when both day-of-month and day-of-week are restricted a day
matching either fires (Vixie cron, which both schedulers use), ``5-5`` is the
value 5, and a wall-clock time skipped by daylight saving does not fire while
one repeated fires once.
"""
from __future__ import annotations

import datetime
import heapq
import itertools
import zoneinfo
from typing import Iterator, List, Tuple

import croniter

FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))   # day-of-week 7 is Sunday, like 0
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_NAMES = (None, None, None, {m: i + 1 for i, m in enumerate(_MONTHS)}, {d: i for i, d in enumerate(_WEEKDAYS)})
_SEARCH = datetime.timedelta(days=4 * 366 + 1)   # every date pattern repeats within 4 years (29 February included)
_NEVER_FIRES_FROM = datetime.datetime(2024, 1, 1)   # a leap year starts the search


class CronError(ValueError):
    """The expression or time zone is invalid; the message says which field and why."""


def parse(expression: str) -> Tuple[str, ...]:
    """Checks ``minute hour day-of-month month day-of-week`` field by field, then that it ever fires.

    Returns the croniter expressions whose fire times together are the schedule's.
    """
    fields = expression.split()
    if len(fields) != len(FIELD_NAMES):
        raise CronError(f"expected {len(FIELD_NAMES)} fields ({' '.join(FIELD_NAMES)}), got {len(fields)}; "
                        "e.g. '0 3 * * 1' = Mondays at 03:00 (no seconds field, no time zone prefix: "
                        "the time zone is its own setting)")
    minute, hour, days, month, weekdays = (_check_field(text, index) for index, text in enumerate(fields))
    if days != "*" and weekdays != "*":     # Vixie: a day matching either field fires
        sides: Tuple[str, ...] = (f"{minute} {hour} {days} {month} *", f"{minute} {hour} * {month} {weekdays}")
    else:
        sides = (f"{minute} {hour} {days} {month} {weekdays}",)
    if next(_wall_times(sides, _NEVER_FIRES_FROM), None) is None:
        raise CronError(f"{expression!r} never fires (no date has that day of the month in those months)")
    return sides


def time_zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CronError(f"got {name!r}; expected an IANA time zone name such as UTC, Europe/Berlin "
                        "or America/New_York") from None


def next_fire_times(expression: str, zone: str, after: datetime.datetime, count: int = 3
                    ) -> List[datetime.datetime]:
    """The next ``count`` times (in ``zone``) strictly after ``after`` (an aware datetime).

    The wall clock is walked without a time zone and daylight saving decided
    here, not by croniter's own rule (which moves a skipped time to the end of
    the jump and fires a repeated one twice).
    """
    sides, tz = parse(expression), time_zone(zone)
    start = after.astimezone(tz).replace(tzinfo=None)
    moments = (wall_time.replace(tzinfo=tz) for wall_time in _wall_times(sides, start))
    return list(itertools.islice(filter(_exists, moments), count))


def _wall_times(sides: Tuple[str, ...], start: datetime.datetime) -> Iterator[datetime.datetime]:
    """Naive fire times of any of ``sides`` after ``start`` and within the search span, in order, each once."""
    per_side = [croniter.croniter_range(start, start + _SEARCH, side, day_or=False, exclude_ends=True)
                for side in sides]
    return (moment for moment, _ in itertools.groupby(heapq.merge(*per_side)))


def _exists(moment: datetime.datetime) -> bool:
    """False for wall-clock times skipped by a daylight-saving jump."""
    round_trip = moment.astimezone(datetime.timezone.utc).astimezone(moment.tzinfo)
    return round_trip.replace(tzinfo=None) == moment.replace(tzinfo=None)


def _check_field(text: str, index: int) -> str:
    """Items are ``*``, a value or a forward range, each with an optional ``/step``.

    Returns the field as croniter should read it: numbers, and ``first-last`` in
    full (``5/10`` is 5 to the field's end, a day-of-week end of 7 included);
    a one-value range as the value, which croniter would read as the whole cycle.
    """
    name, high = FIELD_NAMES[index], _RANGES[index][1]
    items = []
    for item in text.split(","):
        if not item:
            raise CronError(f"{name} field {text!r}: empty item in the list")
        base, slash, step_text = item.partition("/")
        if slash and (not step_text.isdigit() or int(step_text) < 1):
            raise CronError(f"{name} field {text!r}: step {step_text!r} must be an integer >= 1")
        if base != "*":
            first, *end = [_value(token, index, text) for token in base.split("-", 1)]
            last = end[0] if end else high if slash else first
            if first > last:
                raise CronError(f"{name} field {text!r}: range {base!r} runs backwards")
            item = str(first) if first == last else f"{first}-{last}{slash}{step_text}"
        items.append(item)
    return ",".join(items)


def _value(token: str, index: int, field_text: str) -> int:
    name, (low, high), names = FIELD_NAMES[index], _RANGES[index], _NAMES[index]
    number = int(token) if token.isdigit() else (names or {}).get(token.upper())
    if number is None or not low <= number <= high:
        allowed = f"{low}-{high}" + (f" or {'/'.join(list(names)[:3])}/..." if names else "")
        raise CronError(f"{name} field {field_text!r}: {token!r} is not in {allowed}")
    return number
