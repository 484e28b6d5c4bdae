"""Cron expressions are checked, with the field named, before a scheduler sees them."""
import datetime

import pytest

from pipeline import cron

UTC = datetime.timezone.utc


@pytest.mark.parametrize("expression", ["0 3 * * 1", "*/15 * * * *", "0 0 1,15 * *", "30 2 * JAN-MAR MON-FRI",
                                        "0 22 * * 7", "5-55/10 8-18 * * 1-5", "0 0 29 2 *"])
def test_valid_expressions_parse(expression):
    cron.parse(expression)


@pytest.mark.parametrize("expression, message", [
    ("0 3 * *", "expected 5 fields"),
    ("0 0 3 * * 1", "expected 5 fields"),              # KFP's seconds-first form is not what the config takes
    ("60 3 * * 1", "minute field '60': '60' is not in 0-59"),
    ("0 24 * * *", "hour field '24'"),
    ("0 3 0 * *", "day-of-month field '0'"),
    ("0 3 * 13 *", "month field '13'"),
    ("0 3 * * 8", "day-of-week field '8'"),
    ("0 3 * * MONDAY", "day-of-week field 'MONDAY'"),
    ("*/0 * * * *", "step '0' must be an integer >= 1"),
    ("0 5-3 * * *", "range '5-3' runs backwards"),
    ("0 3 1,,2 * *", "empty item"),
    ("0 0 30 2 *", "never fires"),
    ("0 0 31 4,6,9,11 *", "never fires"),
])
def test_invalid_expressions_name_the_field(expression, message):
    with pytest.raises(cron.CronError, match=message.replace("(", r"\(").replace("*", r"\*")):
        cron.parse(expression)


def test_time_zones_are_iana_names():
    assert str(cron.time_zone("Europe/Berlin")) == "Europe/Berlin"
    with pytest.raises(cron.CronError, match="IANA time zone"):
        cron.time_zone("CET+1")


def test_next_fire_times_follow_the_time_zone():
    after = datetime.datetime(2026, 11, 25, 15, 0, tzinfo=UTC)          # a Wednesday
    times = cron.next_fire_times("0 3 * * 1", "Europe/Berlin", after, 2)
    assert [t.isoformat() for t in times] == ["2026-11-30T03:00:00+01:00", "2026-12-07T03:00:00+01:00"]


def test_day_of_month_or_day_of_week_fires_as_vixie_cron():
    after = datetime.datetime(2026, 6, 1, 0, 0, tzinfo=UTC)             # a Monday
    times = cron.next_fire_times("0 12 13 * 5", "UTC", after, 3)        # the 13th, or any Friday
    assert [t.day for t in times] == [5, 12, 13]


def test_a_wall_clock_time_skipped_by_daylight_saving_is_not_a_fire_time():
    after = datetime.datetime(2026, 3, 28, 0, 0, tzinfo=UTC)
    times = cron.next_fire_times("30 2 * * *", "Europe/Berlin", after, 2)   # 29 March 02:30 does not exist
    assert [t.date().isoformat() for t in times] == ["2026-03-28", "2026-03-30"]


def test_leap_day_schedules_are_found():
    times = cron.next_fire_times("0 0 29 2 *", "UTC", datetime.datetime(2026, 1, 1, tzinfo=UTC), 1)
    assert times[0].date() == datetime.date(2028, 2, 29)


@pytest.mark.parametrize("expression, message", [
    ("@daily", "expected 5 fields"),
    ("0 0 L * *", "day-of-month field 'L'"),
    ("0 0 15W * *", "day-of-month field '15W'"),
    ("0 0 ? * 1", "day-of-month field '\\?'"),
    ("0 0 * * 1#2", "day-of-week field '1#2'"),
])
def test_croniter_extensions_are_not_taken(expression, message):
    with pytest.raises(cron.CronError, match=message):
        cron.parse(expression)


def test_a_one_value_range_is_that_value():
    after = datetime.datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
    times = cron.next_fire_times("0 12 13-13 * *", "UTC", after, 2)    # croniter alone reads 13-13 as every day
    assert [t.date().isoformat() for t in times] == ["2026-06-13", "2026-07-13"]
    with pytest.raises(cron.CronError, match="never fires"):
        cron.parse("0 0 30-30 FEB-FEB *")


def test_a_day_of_week_step_runs_to_sunday():
    after = datetime.datetime(2026, 6, 1, 0, 0, tzinfo=UTC)             # a Monday
    times = cron.next_fire_times("0 12 * * 5/1", "UTC", after, 3)       # Friday to 7, Sunday
    assert [t.strftime("%a") for t in times] == ["Fri", "Sat", "Sun"]


def test_a_wall_clock_time_repeated_by_daylight_saving_fires_once():
    after = datetime.datetime(2026, 10, 24, 12, 0, tzinfo=UTC)
    times = cron.next_fire_times("30 2 * * *", "Europe/Berlin", after, 2)   # 25 October 02:30 comes twice
    assert [t.isoformat() for t in times] == ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]


def test_either_day_field_fires_across_daylight_saving_in_new_york():
    after = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)            # a Sunday; clocks go forward on 8 March
    times = cron.next_fire_times("0 9 1,15 * MON", "America/New_York", after, 4)
    assert [t.isoformat() for t in times] == ["2026-03-01T09:00:00-05:00", "2026-03-02T09:00:00-05:00",
                                              "2026-03-09T09:00:00-04:00", "2026-03-15T09:00:00-04:00"]
