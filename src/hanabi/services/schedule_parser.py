"""Schedules and moments as people type them: `every 30m`, `0 9 * * MON-FRI`, `tomorrow 18:00`, `in 2h`.

Pure functions and frozen dataclasses; every datetime that leaves this module is timezone-aware UTC.

Daylight-saving rules (the same as Vixie cron's):
- Cron expressions and whole-day intervals are evaluated on the local wall clock of their time zone, so
  `0 9 * * *` stays at 09:00 local when the UTC offset changes.
- A local time that does not exist (skipped by a spring-forward jump) runs at the same instant the clock
  jumps to (02:30 in a 02:00->03:00 gap runs at 03:30 local); it is never lost.
- A local time that occurs twice (fall back) runs once, at its first occurrence — except for expressions
  whose hour field is `*`, which run on the repeated hour as well, as an hourly job should.
- Intervals shorter than a day (`every 30m`, `every 2h`) count real elapsed time and ignore the wall clock.
"""

from __future__ import annotations

import itertools
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from croniter import CroniterBadCronError, CroniterBadDateError, croniter  # type: ignore[import-untyped]

from hanabi.errors import InvalidInput

MIN_INTERVAL = timedelta(minutes=5)
MAX_INTERVAL = timedelta(days=366)
_UNITS = {
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
_PART = re.compile(r"(\d+)\s*([a-z]+)")
_INTERVAL = re.compile(r"^every\s+((?:\d+\s*[a-z]+\s*)+)$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*,/\-]+$")
_CRON_FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
_CRON_HELP = (
    "Use an interval such as `every 30m`, `every 2h` or `every 1d` (at least 5 minutes), or a 5-field cron "
    "expression `minute hour day month weekday` such as `0 9 * * MON-FRI`."
)
_CRON_SAMPLE = 48  # upcoming runs inspected to enforce the minimum spacing of a cron expression


def validate_timezone(name: str) -> zoneinfo.ZoneInfo:
    """The zone for an IANA name, or InvalidInput saying what is accepted."""
    cleaned = name.strip()
    try:
        if not cleaned or cleaned.startswith(("/", ".")):
            raise ValueError(cleaned)
        return zoneinfo.ZoneInfo(cleaned)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"`{name}` is not a time zone I know. Use an IANA name such as `Europe/Berlin` or `America/New_York`."
        ) from None


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware datetime")
    return moment.astimezone(UTC)


def _local_instants(naive: datetime, tz: zoneinfo.ZoneInfo, *, both_folds: bool) -> list[datetime]:
    """The UTC instants at which wall-clock time `naive` happens in `tz` (see the module docstring)."""
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    first_utc, second_utc = first.astimezone(UTC), second.astimezone(UTC)
    if first_utc == second_utc:
        return [first_utc]
    if first.utcoffset() is not None and second.utcoffset() is not None:
        # Python's fold semantics: in a gap fold=0 uses the offset before the jump, which lands *after* the
        # gap in real time; in an overlap fold=0 is the earlier instant. Either way fold=0 is the one we want.
        roundtrip = first_utc.astimezone(tz).replace(tzinfo=None)
        if roundtrip != naive:  # a gap: the wall time never happens; run when the clock has jumped past it
            return [first_utc]
    return [first_utc, second_utc] if both_folds else [first_utc]


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed schedule. `expression` is the canonical text stored in the database."""

    kind: str  # "interval" or "cron"
    expression: str
    timezone: str
    interval_seconds: int = 0

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def describe(self) -> str:
        if self.kind == "interval":
            return f"{self.expression} ({self.timezone})" if self.interval_seconds % 86400 == 0 else self.expression
        return f"`{self.expression}` ({self.timezone})"

    def next_after(self, after: datetime, anchor: datetime) -> datetime:
        """The first run strictly after `after`. Intervals count from `anchor` (the first run)."""
        after, anchor = _utc(after), _utc(anchor)
        if self.kind == "interval":
            return self._next_interval(after, anchor)
        return self._next_cron(after)

    def upcoming(self, after: datetime, anchor: datetime, count: int) -> list[datetime]:
        runs: list[datetime] = []
        moment = _utc(after)
        anchor = _utc(anchor)
        if anchor > moment:
            runs.append(anchor)
            moment = anchor
        while len(runs) < count:
            moment = self.next_after(moment, anchor)
            runs.append(moment)
        return runs[:count]

    def first_run(self, starts: datetime) -> datetime:
        """The first run at or after `starts`."""
        starts = _utc(starts)
        if self.kind == "interval":
            return starts
        return self._next_cron(starts - timedelta(microseconds=1))

    # intervals ---------------------------------------------------------------------------------------------------

    def _next_interval(self, after: datetime, anchor: datetime) -> datetime:
        if after < anchor:
            return anchor
        if self.interval_seconds % 86400 == 0:
            return self._next_calendar(after, anchor)
        step = self.interval_seconds
        elapsed = (after - anchor).total_seconds()
        count = int(elapsed // step) + 1
        candidate = anchor + timedelta(seconds=count * step)
        while candidate <= after:  # float rounding guard
            candidate += timedelta(seconds=step)
        return candidate

    def _next_calendar(self, after: datetime, anchor: datetime) -> datetime:
        """Whole-day intervals keep the anchor's local wall-clock time across DST changes."""
        tz = self.zone
        days = self.interval_seconds // 86400
        local_anchor = anchor.astimezone(tz).replace(tzinfo=None)
        local_after = after.astimezone(tz).replace(tzinfo=None)
        count = max(0, (local_after.date() - local_anchor.date()).days // days - 1)
        while True:
            naive = local_anchor + timedelta(days=count * days)
            for instant in _local_instants(naive, tz, both_folds=False):
                if instant > after:
                    return instant
            count += 1

    # cron --------------------------------------------------------------------------------------------------------

    def _next_cron(self, after: datetime) -> datetime:
        tz = self.zone
        hourly = self.expression.split()[1] == "*"
        # croniter walks naive wall-clock times (pure calendar arithmetic, no DST surprises); we map each wall
        # time to its real instants ourselves. Start a little before `after` in wall time so a repeated hour
        # after a fall-back is not skipped.
        local_after = after.astimezone(tz).replace(tzinfo=None)
        iterator = croniter(self.expression, local_after - timedelta(hours=3, minutes=1))
        for _ in range(100_000):
            try:
                naive: datetime = iterator.get_next(datetime)
            except CroniterBadDateError:
                break
            for instant in _local_instants(naive, tz, both_folds=hourly):
                if instant > after:
                    return instant
        raise InvalidInput(f"`{self.expression}` never runs. {_CRON_HELP}")


def parse_schedule(text: str, timezone: str = "UTC") -> Schedule:
    """Parse an interval (`every 30m`, `every 1h30m`, `every 1d`) or a 5-field cron expression."""
    tz = validate_timezone(timezone)
    cleaned = " ".join(text.strip().split())
    if not cleaned:
        raise InvalidInput(f"The schedule is empty. {_CRON_HELP}")
    lowered = cleaned.lower()
    if lowered.startswith("every"):
        return _parse_interval(lowered, tz.key)
    return _parse_cron(cleaned, tz.key)


def _parse_interval(text: str, timezone: str) -> Schedule:
    match = _INTERVAL.match(text)
    if match is None:
        raise InvalidInput(f"`{text}` is not an interval I understand. {_CRON_HELP}")
    seconds = 0
    canonical: list[str] = []
    for amount, unit in _PART.findall(match.group(1)):
        size = _UNITS.get(unit)
        if size is None:
            raise InvalidInput(f"`{unit}` is not a unit I know: use m (minutes), h (hours), d (days) or w (weeks).")
        seconds += int(amount) * size
    if seconds < MIN_INTERVAL.total_seconds():
        raise InvalidInput("Announcements can repeat at most every 5 minutes: use `every 5m` or longer.")
    if seconds > MAX_INTERVAL.total_seconds():
        raise InvalidInput("An interval can be at most a year long (`every 366d`).")
    rest = seconds
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        value, rest = divmod(rest, size)
        if value:
            canonical.append(f"{value}{unit}")
    return Schedule("interval", "every " + "".join(canonical), timezone, interval_seconds=seconds)


def _parse_cron(text: str, timezone: str) -> Schedule:
    fields = text.split(" ")
    if len(fields) != 5:
        raise InvalidInput(f"`{text}` has {len(fields)} fields; a cron expression has exactly 5. {_CRON_HELP}")
    for name, field in zip(_CRON_FIELD_NAMES, fields, strict=True):
        if not _CRON_FIELD.match(field):
            raise InvalidInput(f"The {name} field `{field}` is not valid. {_CRON_HELP}")
    expression = " ".join(field.upper() for field in fields)
    try:
        if not croniter.is_valid(expression):
            raise CroniterBadCronError(expression)
        croniter(expression, datetime(2000, 1, 1))  # a naive wall-clock start, on purpose
    except (CroniterBadCronError, ValueError, KeyError):
        raise InvalidInput(f"`{text}` is not a valid cron expression. {_CRON_HELP}") from None
    schedule = Schedule("cron", expression, timezone)
    _check_spacing(schedule)
    return schedule


def _check_spacing(schedule: Schedule) -> None:
    """Refuse cron expressions that fire more often than every 5 minutes (or never)."""
    start = datetime(2030, 1, 1, tzinfo=UTC)
    runs = schedule.upcoming(start, start, _CRON_SAMPLE)
    for earlier, later in itertools.pairwise(runs):
        if later - earlier < MIN_INTERVAL:
            raise InvalidInput(
                f"`{schedule.expression}` runs more often than every 5 minutes; announcements need at least "
                "5 minutes between runs."
            )


# moments ------------------------------------------------------------------------------------------------------------

_IN = re.compile(r"^in\s+((?:\d+\s*[a-z]+\s*)+)$")
_CLOCK = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$")
_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_WHEN_HELP = "Use `2026-12-24 18:00`, `tomorrow 18:00`, `today 18:00`, `18:00` or `in 2h` (times are the server's)."


def _parse_clock(text: str) -> time:
    match = _CLOCK.match(text.strip().lower())
    if match is None:
        raise InvalidInput(f"`{text}` is not a time of day. {_WHEN_HELP}")
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if match.group(3):
        if not 1 <= hour <= 12:
            raise InvalidInput(f"`{text}` is not a time of day. {_WHEN_HELP}")
        hour = hour % 12 + (12 if match.group(3) == "pm" else 0)
    if hour > 23 or minute > 59:
        raise InvalidInput(f"`{text}` is not a time of day. {_WHEN_HELP}")
    return time(hour, minute)


def _at_local(day: date, clock: time, tz: zoneinfo.ZoneInfo) -> datetime:
    return _local_instants(datetime.combine(day, clock), tz, both_folds=False)[0]


def parse_when(text: str, now: datetime, timezone: str = "UTC") -> datetime:
    """A moment as people type it, read in `timezone`; returns UTC. Does not check that it is in the future."""
    tz = validate_timezone(timezone)
    now = _utc(now)
    cleaned = " ".join(text.strip().lower().split())
    if not cleaned:
        raise InvalidInput(f"The time is empty. {_WHEN_HELP}")
    if cleaned == "now":
        return now
    relative = _IN.match(cleaned)
    if relative is not None:
        seconds = 0
        for amount, unit in _PART.findall(relative.group(1)):
            size = _UNITS.get(unit)
            if size is None:
                raise InvalidInput(f"`{unit}` is not a unit I know: use m, h, d or w. {_WHEN_HELP}")
            seconds += int(amount) * size
        return now + timedelta(seconds=seconds)
    today = now.astimezone(tz).date()
    day_word, _, rest = cleaned.partition(" ")
    if day_word in ("today", "tomorrow"):
        day = today + timedelta(days=1 if day_word == "tomorrow" else 0)
        return _at_local(day, _parse_clock(rest or "00:00"), tz)
    date_match = _DATE.match(day_word)
    if date_match is not None:
        try:
            day = date(int(date_match.group(1)), int(date_match.group(2)), int(date_match.group(3)))
        except ValueError:
            raise InvalidInput(f"`{day_word}` is not a real date. {_WHEN_HELP}") from None
        return _at_local(day, _parse_clock(rest or "00:00"), tz)
    if _CLOCK.match(cleaned):
        # A bare time of day: today if it is still ahead, else tomorrow.
        clock = _parse_clock(cleaned)
        moment = _at_local(today, clock, tz)
        return moment if moment > now else _at_local(today + timedelta(days=1), clock, tz)
    raise InvalidInput(f"`{text}` is not a time I understand. {_WHEN_HELP}")
