"""Recurring announcements, event planning and reminders, and the runner that delivers them exactly once.

The runner polls PostgreSQL every `poll_seconds` (real time) and compares with the injected clock, so tests
move a ManualClock instead of sleeping. Every run is claimed in the database before it is sent
(`ScheduleRepository.claim` / `claim_reminders`), so several bot processes can run the scheduler and each
run is still sent once. Delivery goes through the small `AnnouncementSender` protocol, implemented with
hikari in `extensions/scheduler.py`; this module knows Discord only as integer snowflakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from hanabi.errors import DomainError, InvalidInput, NotFound, PermissionDenied
from hanabi.infra.clock import Clock
from hanabi.infra.metrics import Metrics
from hanabi.repositories.schedules import AnnouncementRow, NewAnnouncement, ReminderRow, ScheduleRepository
from hanabi.services.guild_settings import GuildSettingsService
from hanabi.services.schedule_parser import Schedule, parse_schedule, parse_when, validate_timezone

log = logging.getLogger(__name__)

MAX_ANNOUNCEMENTS_PER_GUILD = 25
MAX_TEXT_LENGTH = 2000  # plain message content
MAX_EMBED_LENGTH = 4000  # embed description
MAX_TITLE_LENGTH = 256
MAX_REMINDER_MINUTES = 10080  # a week
UPCOMING_SHOWN = 3

FailureKind = Literal["channel_gone", "missing_permissions", "event_gone", "transient"]
PERMANENT_FAILURES: frozenset[str] = frozenset({"channel_gone", "missing_permissions"})


# delivery seam -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """One announcement message to send."""

    announcement_id: int
    guild_id: int
    channel_id: int
    message: str
    title: str | None
    allowed_role_ids: tuple[int, ...]
    scheduled_for: datetime


@dataclass(frozen=True, slots=True)
class ReminderDelivery:
    reminder_id: int
    guild_id: int
    event_id: int
    event_name: str
    event_start: datetime
    channel_id: int
    minutes_before: int


@dataclass(frozen=True, slots=True)
class PauseNotice:
    """Tell the server's mod-log that an announcement was paused, and why."""

    guild_id: int
    modlog_channel_id: int
    announcement_id: int
    channel_id: int
    reason: FailureKind
    detail: str


class DeliveryFailed(Exception):
    """Raised by an AnnouncementSender; `kind` decides whether the announcement is paused."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind: FailureKind = kind
        self.detail = detail


class AnnouncementSender(Protocol):
    async def send_announcement(self, delivery: Delivery) -> int:
        """Post the message; returns its id or raises DeliveryFailed."""
        ...

    async def send_reminder(self, reminder: ReminderDelivery) -> int:
        """Post the reminder; raises DeliveryFailed (kind `event_gone` when the event no longer exists)."""
        ...

    async def notify_paused(self, notice: PauseNotice) -> None:
        """Tell the mod-log channel; may raise DeliveryFailed."""
        ...


# results -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Announcement:
    row: AnnouncementRow
    schedule: Schedule

    @property
    def id(self) -> int:
        return self.row.id


@dataclass(frozen=True, slots=True)
class CreatedAnnouncement:
    announcement: Announcement
    upcoming: list[datetime]


@dataclass(frozen=True, slots=True)
class EventPlan:
    """A validated guild scheduled event, ready for the Discord API. Times are UTC."""

    name: str
    start: datetime
    end: datetime | None
    channel_id: int | None  # a voice/stage event when set, else external
    location: str | None
    description: str | None
    timezone: str

    @property
    def external(self) -> bool:
        return self.channel_id is None


@dataclass(frozen=True, slots=True)
class Reminder:
    row: ReminderRow


@dataclass(frozen=True, slots=True)
class RunReport:
    announcements_sent: int = 0
    reminders_sent: int = 0
    failures: int = 0


def _check_text(message: str, title: str | None) -> tuple[str, str | None]:
    text = message.strip()
    if not text:
        raise InvalidInput("The message is empty: write what the announcement should say.")
    if title is not None:
        title = title.strip() or None
    limit = MAX_EMBED_LENGTH if title else MAX_TEXT_LENGTH
    if len(text) > limit:
        raise InvalidInput(
            f"The message is {len(text)} characters; the limit is {limit}"
            + ("." if title else f" (or {MAX_EMBED_LENGTH} with a title, sent as an embed).")
        )
    if title is not None and len(title) > MAX_TITLE_LENGTH:
        raise InvalidInput(f"The title is {len(title)} characters; the limit is {MAX_TITLE_LENGTH}.")
    return text, title


class SchedulerService:
    def __init__(
        self,
        repository: ScheduleRepository,
        guild_settings: GuildSettingsService,
        clock: Clock,
        poll_seconds: float = 0.5,
        batch_size: int = 20,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._repository = repository
        self._guild_settings = guild_settings
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._task: asyncio.Task[None] | None = None
        self._stopping: asyncio.Event | None = None

    # announcements -------------------------------------------------------------------------------------------------

    async def server_timezone(self, guild_id: int) -> str:
        return (await self._guild_settings.get(guild_id)).timezone

    async def create(
        self,
        *,
        guild_id: int,
        channel_id: int,
        creator_id: int,
        message: str,
        schedule: str,
        title: str | None = None,
        timezone: str | None = None,
        starts: str | None = None,
        allowed_role_ids: tuple[int, ...] = (),
    ) -> CreatedAnnouncement:
        text, title = _check_text(message, title)
        zone = validate_timezone(timezone).key if timezone else await self.server_timezone(guild_id)
        parsed = parse_schedule(schedule, zone)
        now = self._clock.now()
        if starts:
            start_at = parse_when(starts, now, zone)
            if start_at < now - timedelta(minutes=1):
                raise InvalidInput("`starts` is in the past; give a moment from now on, such as `tomorrow 09:00`.")
            anchor = parsed.first_run(max(start_at, now))
        else:
            anchor = parsed.next_after(now, now) if parsed.kind == "interval" else parsed.first_run(now)
        if await self._repository.count_for_guild(guild_id) >= MAX_ANNOUNCEMENTS_PER_GUILD:
            raise InvalidInput(
                f"This server already has {MAX_ANNOUNCEMENTS_PER_GUILD} announcements; delete one before adding more."
            )
        row = await self._repository.create(
            NewAnnouncement(
                guild_id=guild_id,
                channel_id=channel_id,
                creator_id=creator_id,
                message=text,
                title=title,
                schedule=parsed.expression,
                timezone=parsed.timezone,
                anchor=anchor,
                allowed_role_ids=tuple(dict.fromkeys(allowed_role_ids)),
                next_run=anchor,
            )
        )
        return CreatedAnnouncement(Announcement(row, parsed), parsed.upcoming(now, anchor, UPCOMING_SHOWN))

    async def list_for_guild(self, guild_id: int) -> list[Announcement]:
        return [self._wrap(row) for row in await self._repository.list_for_guild(guild_id)]

    async def get(self, guild_id: int, announcement_id: int) -> Announcement:
        row = await self._repository.get(guild_id, announcement_id)
        if row is None:
            raise NotFound(f"There is no announcement #{announcement_id} in this server. `/announce list` shows them.")
        return self._wrap(row)

    async def pause(self, guild_id: int, announcement_id: int) -> Announcement:
        await self.get(guild_id, announcement_id)
        row = await self._repository.set_paused(guild_id, announcement_id, paused=True, reason="paused by a moderator")
        if row is None:
            raise NotFound(f"There is no announcement #{announcement_id} in this server.")
        return self._wrap(row)

    async def resume(self, guild_id: int, announcement_id: int) -> Announcement:
        """Resumes from now: runs missed while paused are not sent."""
        current = await self.get(guild_id, announcement_id)
        now = self._clock.now()
        next_run = current.schedule.next_after(now, current.row.anchor)
        row = await self._repository.set_paused(guild_id, announcement_id, paused=False, reason=None, next_run=next_run)
        if row is None:
            raise NotFound(f"There is no announcement #{announcement_id} in this server.")
        return self._wrap(row)

    async def delete(self, guild_id: int, announcement_id: int) -> None:
        if not await self._repository.delete(guild_id, announcement_id):
            raise NotFound(f"There is no announcement #{announcement_id} in this server. `/announce list` shows them.")

    async def send_test(self, guild_id: int, announcement_id: int, sender: AnnouncementSender) -> int:
        """Send once now, outside the schedule; failures are reported to the caller, nothing is paused."""
        announcement = await self.get(guild_id, announcement_id)
        try:
            return await sender.send_announcement(self._delivery(announcement.row, self._clock.now()))
        except DeliveryFailed as failure:
            if failure.kind == "channel_gone":
                raise NotFound(f"The channel of announcement #{announcement_id} no longer exists.") from None
            if failure.kind == "missing_permissions":
                raise PermissionDenied(f"I cannot post in <#{announcement.row.channel_id}>: {failure.detail}") from None
            raise DomainError("Discord did not accept the message just now; try again in a moment.") from None

    def upcoming(self, announcement: Announcement, count: int = UPCOMING_SHOWN) -> list[datetime]:
        now = self._clock.now()
        start = max(now, announcement.row.next_run - timedelta(microseconds=1))
        runs = [announcement.row.next_run] if announcement.row.next_run > now else []
        runs += announcement.schedule.upcoming(start, announcement.row.anchor, count)
        return sorted(set(runs))[:count]

    def _wrap(self, row: AnnouncementRow) -> Announcement:
        return Announcement(row, parse_schedule(row.schedule, row.timezone))

    @staticmethod
    def _delivery(row: AnnouncementRow, scheduled_for: datetime) -> Delivery:
        return Delivery(
            announcement_id=row.id,
            guild_id=row.guild_id,
            channel_id=row.channel_id,
            message=row.message,
            title=row.title,
            allowed_role_ids=row.allowed_role_ids,
            scheduled_for=scheduled_for,
        )

    # events and reminders ------------------------------------------------------------------------------------------

    async def plan_event(
        self,
        *,
        guild_id: int,
        name: str,
        start: str,
        end: str | None = None,
        channel_id: int | None = None,
        location: str | None = None,
        description: str | None = None,
    ) -> EventPlan:
        zone = await self.server_timezone(guild_id)
        now = self._clock.now()
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise InvalidInput("An event name is 1 to 100 characters.")
        if description is not None and len(description) > 1000:
            raise InvalidInput("An event description is at most 1000 characters.")
        starts_at = parse_when(start, now, zone)
        if starts_at <= now:
            raise InvalidInput(f"The start `{start}` is in the past ({zone} time); events must start in the future.")
        ends_at = parse_when(end, now, zone) if end else None
        if ends_at is not None and ends_at <= starts_at:
            raise InvalidInput("The end is before the start; an event has to end after it begins.")
        location = (location or "").strip() or None
        if channel_id is None:
            if location is None or ends_at is None:
                raise InvalidInput(
                    "An event without a voice or stage channel is an external event, and Discord needs a "
                    "`location` and an `end` for it. Give both, or pick a `channel`."
                )
            if len(location) > 100:
                raise InvalidInput("A location is at most 100 characters.")
        elif location is not None:
            raise InvalidInput("A `location` is only for external events; leave it out when you pick a channel.")
        return EventPlan(name, starts_at, ends_at, channel_id, location, description or None, zone)

    async def add_reminder(
        self,
        *,
        guild_id: int,
        event_id: int,
        event_name: str,
        event_start: datetime,
        channel_id: int,
        creator_id: int,
        minutes_before: int,
    ) -> Reminder:
        if not 1 <= minutes_before <= MAX_REMINDER_MINUTES:
            raise InvalidInput(f"A reminder is 1 to {MAX_REMINDER_MINUTES} minutes (a week) before the start.")
        remind_at = event_start - timedelta(minutes=minutes_before)
        if remind_at <= self._clock.now():
            raise InvalidInput(f"{minutes_before} minutes before the start has already passed; pick fewer minutes.")
        row = await self._repository.add_reminder(
            guild_id=guild_id,
            event_id=event_id,
            event_name=event_name[:100] or "event",
            event_start=event_start,
            channel_id=channel_id,
            creator_id=creator_id,
            minutes_before=minutes_before,
            remind_at=remind_at,
        )
        if row is None:
            raise InvalidInput("That reminder already exists for this event and channel.")
        return Reminder(row)

    async def cancel_reminders(self, guild_id: int, event_id: int) -> int:
        return await self._repository.cancel_reminders(guild_id, event_id)

    async def pending_reminders(self, guild_id: int) -> list[Reminder]:
        return [Reminder(row) for row in await self._repository.pending_reminders(guild_id)]

    # the runner ----------------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, sender: AnnouncementSender) -> None:
        """Start polling (idempotent). The first pass runs at once, which sends runs missed during downtime."""
        if self.running:
            return
        self._stopping = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(sender, self._stopping), name="scheduler")
        log.info("scheduler started (worker %s, polling every %.2gs)", self.worker_id, self._poll_seconds)

    async def stop(self) -> None:
        """Stop after the current pass; never leaves a pending task behind."""
        task, stopping = self._task, self._stopping
        self._task = self._stopping = None
        if task is None or stopping is None:
            return
        stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=10)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        log.info("scheduler stopped")

    async def _run(self, sender: AnnouncementSender, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.run_once(sender)
            except Exception:
                # A database hiccup: log it and try again at the next poll, never in a tight loop.
                log.warning("scheduler pass failed; retrying in %.2gs", self._poll_seconds, exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self._poll_seconds)

    async def run_once(self, sender: AnnouncementSender) -> RunReport:
        """One pass: claim and send every due announcement and reminder."""
        now = self._clock.now()
        sent = failures = 0
        for row in await self._repository.due(now, self._batch_size):
            outcome = await self._run_announcement(row, now, sender)
            if outcome is True:
                sent += 1
            elif outcome is False:
                failures += 1
            if outcome is not None:
                self._count("announcement", "sent" if outcome else "failed")
                if (now - row.next_run).total_seconds() > self._poll_seconds + 1:
                    self._count_missed()
        reminders = 0
        for reminder in await self._repository.claim_reminders(now, self.worker_id, self._batch_size):
            if await self._run_reminder(reminder, now, sender):
                reminders += 1
                self._count("reminder", "sent")
            else:
                failures += 1
                self._count("reminder", "failed")
        return RunReport(sent, reminders, failures)

    def _count(self, kind: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.scheduler_runs.labels(kind=kind, outcome=outcome).inc()

    def _count_missed(self) -> None:
        if self._metrics is not None:
            self._metrics.scheduler_missed.inc()

    async def _run_announcement(self, row: AnnouncementRow, now: datetime, sender: AnnouncementSender) -> bool | None:
        """True sent, False failed, None not ours (another process claimed it)."""
        schedule = parse_schedule(row.schedule, row.timezone)
        # After downtime several runs may be overdue: send once, then continue the schedule from now.
        next_run = schedule.next_after(max(now, row.next_run), row.anchor)
        if not await self._repository.claim(row.id, row.next_run, next_run, now, self.worker_id):
            return None
        try:
            message_id = await sender.send_announcement(self._delivery(row, row.next_run))
        except DeliveryFailed as failure:
            await self._repository.finish_run(row.id, row.next_run, message_id=None, error=str(failure))
            if failure.kind in PERMANENT_FAILURES:
                await self._pause_after_failure(row, failure, sender)
            else:
                log.warning("announcement %d in guild %d not sent: %s", row.id, row.guild_id, failure)
            return False
        await self._repository.finish_run(row.id, row.next_run, message_id=message_id, error=None)
        return True

    async def _pause_after_failure(
        self, row: AnnouncementRow, failure: DeliveryFailed, sender: AnnouncementSender
    ) -> None:
        reason = (
            "the channel was deleted" if failure.kind == "channel_gone" else f"missing permission: {failure.detail}"
        )
        await self._repository.set_paused(row.guild_id, row.id, paused=True, reason=reason)
        self._count("announcement", "paused")
        log.warning("announcement %d in guild %d paused: %s", row.id, row.guild_id, reason)
        modlog = (await self._guild_settings.get(row.guild_id)).modlog_channel_id
        if modlog is None or modlog == row.channel_id:
            return
        notice = PauseNotice(row.guild_id, modlog, row.id, row.channel_id, failure.kind, failure.detail)
        try:
            await sender.notify_paused(notice)
        except DeliveryFailed as notify_failure:
            log.warning("could not tell the mod-log of guild %d: %s", row.guild_id, notify_failure)

    async def _run_reminder(self, row: ReminderRow, now: datetime, sender: AnnouncementSender) -> bool:
        if now >= row.event_start:
            # Missed while the bot was down and the event has begun: a "starts soon" post would be wrong.
            await self._repository.finish_reminder(row.id, "skipped", "the event had already started")
            return True
        delivery = ReminderDelivery(
            reminder_id=row.id,
            guild_id=row.guild_id,
            event_id=row.event_id,
            event_name=row.event_name,
            event_start=row.event_start,
            channel_id=row.channel_id,
            minutes_before=row.minutes_before,
        )
        try:
            await sender.send_reminder(delivery)
        except DeliveryFailed as failure:
            status = "cancelled" if failure.kind == "event_gone" else "failed"
            await self._repository.finish_reminder(row.id, status, str(failure))
            log.warning("reminder %d for event %d not sent: %s", row.id, row.event_id, failure)
            return failure.kind == "event_gone"
        await self._repository.finish_reminder(row.id, "sent")
        return True
