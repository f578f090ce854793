"""The schedule parser: intervals, cron, time zones, daylight-saving transitions, moments, invalid input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hanabi.errors import InvalidInput
from hanabi.services.schedule_parser import parse_schedule, parse_when


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# intervals ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds", "canonical"),
    [
        ("every 30m", 1800, "every 30m"),
        ("every 2h", 7200, "every 2h"),
        ("every 1d", 86400, "every 1d"),
        ("Every 90 minutes", 5400, "every 1h30m"),
        ("every 1h 30m", 5400, "every 1h30m"),
        ("every 5m", 300, "every 5m"),
        ("every 1w", 604800, "every 7d"),
    ],
)
def test_intervals_parse(text: str, seconds: int, canonical: str) -> None:
    schedule = parse_schedule(text)
    assert schedule.kind == "interval"
    assert schedule.interval_seconds == seconds
    assert schedule.expression == canonical
    assert parse_schedule(schedule.expression).interval_seconds == seconds  # the canonical form round-trips


def test_interval_runs_count_from_the_anchor() -> None:
    schedule = parse_schedule("every 30m")
    anchor = utc(2026, 1, 15, 12, 30)
    assert schedule.next_after(utc(2026, 1, 15, 12, 0), anchor) == anchor
    assert schedule.next_after(anchor, anchor) == utc(2026, 1, 15, 13, 0)
    assert schedule.next_after(utc(2026, 1, 15, 15, 10), anchor) == utc(2026, 1, 15, 15, 30)
    assert schedule.upcoming(utc(2026, 1, 15, 12, 0), anchor, 3) == [
        utc(2026, 1, 15, 12, 30),
        utc(2026, 1, 15, 13, 0),
        utc(2026, 1, 15, 13, 30),
    ]


def test_short_intervals_count_elapsed_time_across_dst() -> None:
    # Europe/Berlin springs forward on 2026-03-29 at 01:00 UTC; a 2h interval is still 2 real hours.
    schedule = parse_schedule("every 2h", "Europe/Berlin")
    anchor = utc(2026, 3, 28, 23, 0)
    before = anchor - timedelta(minutes=1)
    assert schedule.upcoming(before, anchor, 3) == [anchor, utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 3, 0)]


def test_daily_interval_keeps_local_wall_time_across_dst() -> None:
    # 09:00 in New York: 14:00 UTC in EST, 13:00 UTC after DST starts on 2026-03-08.
    schedule = parse_schedule("every 1d", "America/New_York")
    anchor = utc(2026, 3, 7, 14, 0)
    before = anchor - timedelta(minutes=1)
    assert schedule.upcoming(before, anchor, 3) == [anchor, utc(2026, 3, 8, 13, 0), utc(2026, 3, 9, 13, 0)]
    # ...and back in autumn (DST ends 2026-11-01).
    anchor = utc(2026, 10, 31, 13, 0)
    assert schedule.next_after(anchor, anchor) == utc(2026, 11, 1, 14, 0)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("every 4m", "at most every 5 minutes"),
        ("every 0m", "at most every 5 minutes"),
        ("every 3 fortnights", "not a unit"),
        ("every", "not an interval"),
        ("every 400d", "at most a year"),
        ("", "empty"),
    ],
)
def test_invalid_intervals_say_what_is_accepted(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_schedule(text)
    assert fragment in info.value.user_message


# cron ----------------------------------------------------------------------------------------------------------------


def test_cron_with_day_names_in_a_time_zone() -> None:
    schedule = parse_schedule("0 9 * * mon-fri", "Europe/Berlin")
    assert schedule.kind == "cron"
    assert schedule.expression == "0 9 * * MON-FRI"
    # Thursday 2026-01-15 12:00 UTC: next weekday 09:00 Berlin (UTC+1) is Friday 08:00 UTC, then Monday.
    start = utc(2026, 1, 15, 12, 0)
    assert schedule.upcoming(start, start, 3) == [
        utc(2026, 1, 16, 8, 0),
        utc(2026, 1, 19, 8, 0),
        utc(2026, 1, 20, 8, 0),
    ]


def test_cron_month_names_and_steps() -> None:
    schedule = parse_schedule("*/15 8-9 1 JAN,JUL *")
    start = utc(2026, 1, 1, 0, 0)
    assert schedule.upcoming(start, start, 9)[-2:] == [utc(2026, 1, 1, 9, 45), utc(2026, 7, 1, 8, 0)]


def test_cron_follows_local_time_across_spring_forward() -> None:
    schedule = parse_schedule("0 9 * * *", "Europe/Berlin")
    start = utc(2026, 3, 28, 12, 0)
    # 09:00 CET = 08:00 UTC before 2026-03-29, 09:00 CEST = 07:00 UTC after.
    assert schedule.upcoming(start, start, 2) == [utc(2026, 3, 29, 7, 0), utc(2026, 3, 30, 7, 0)]


def test_cron_time_in_the_spring_forward_gap_runs_when_the_clock_jumps() -> None:
    # 02:30 does not exist in Berlin on 2026-03-29 (02:00 -> 03:00): it runs at 03:30 CEST = 01:30 UTC, once.
    schedule = parse_schedule("30 2 * * *", "Europe/Berlin")
    start = utc(2026, 3, 28, 12, 0)
    assert schedule.upcoming(start, start, 2) == [utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]


def test_cron_time_in_the_fall_back_overlap_runs_once() -> None:
    # 02:30 happens twice in Berlin on 2026-10-25 (03:00 CEST -> 02:00 CET): a daily job runs at the first.
    schedule = parse_schedule("30 2 * * *", "Europe/Berlin")
    start = utc(2026, 10, 24, 12, 0)
    assert schedule.upcoming(start, start, 2) == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_hourly_cron_runs_on_the_repeated_hour() -> None:
    schedule = parse_schedule("30 * * * *", "Europe/Berlin")
    start = utc(2026, 10, 24, 23, 0)
    assert schedule.upcoming(start, start, 4) == [
        utc(2026, 10, 24, 23, 30),  # 01:30 CEST
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 1, 30),  # 02:30 CET, the repeated hour
        utc(2026, 10, 25, 2, 30),  # 03:30 CET
    ]


def test_cron_in_a_southern_hemisphere_zone() -> None:
    # Sydney leaves DST on 2026-04-05 (AEDT +11 -> AEST +10).
    schedule = parse_schedule("0 18 * * *", "Australia/Sydney")
    start = utc(2026, 4, 3, 0, 0)
    assert schedule.upcoming(start, start, 3) == [
        utc(2026, 4, 3, 7, 0),
        utc(2026, 4, 4, 7, 0),
        utc(2026, 4, 5, 8, 0),
    ]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0 9 * *", "exactly 5"),
        ("0 9 * * * *", "exactly 5"),
        ("0 25 * * *", "not a valid cron"),
        ("0 9 * * FUNDAY", "not a valid cron"),
        ("0 9 31 2 *", "never runs"),
        ("* * * * *", "more often than every 5 minutes"),
        ("0,1 9 * * *", "more often than every 5 minutes"),
        ("0 9 * * MON;", "not valid"),
    ],
)
def test_invalid_cron_says_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_schedule(text)
    assert fragment in info.value.user_message


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd", "utc+2"])
def test_unknown_time_zones_are_refused(zone: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_schedule("every 1h", zone)
    assert "time zone" in info.value.user_message


# moments -------------------------------------------------------------------------------------------------------------

NOW = utc(2026, 1, 15, 12, 0)  # 13:00 in Berlin


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-24 18:00", utc(2026, 12, 24, 17, 0)),
        ("tomorrow 18:00", utc(2026, 1, 16, 17, 0)),
        ("today 18:00", utc(2026, 1, 15, 17, 0)),
        ("in 2h", NOW + timedelta(hours=2)),
        ("in 1h 30m", NOW + timedelta(minutes=90)),
        ("18:00", utc(2026, 1, 15, 17, 0)),
        ("9am", utc(2026, 1, 16, 8, 0)),  # already past today: tomorrow
        ("2026-07-01 18:00", utc(2026, 7, 1, 16, 0)),  # summer time
    ],
)
def test_parse_when_in_the_server_time_zone(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW, "Europe/Berlin") == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("next blue moon", "not a time"), ("2026-02-30 10:00", "not a real date"), ("tomorrow 25:00", "not a time")],
)
def test_parse_when_refuses_nonsense(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_when(text, NOW, "UTC")
    assert fragment in info.value.user_message
