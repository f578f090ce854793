"""The scheduler's exactly-once claims against a real PostgreSQL: many runners, one send per run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from hanabi.infra.db import Database, open_database
from hanabi.infra.events import LocalEventBus
from hanabi.repositories.guild_settings import GuildSettingsRepository
from hanabi.repositories.schedules import ScheduleRepository
from hanabi.services.guild_settings import GuildSettingsService
from hanabi.services.scheduler import Delivery, PauseNotice, ReminderDelivery, SchedulerService
from tests.harness.clock import ManualClock


class RecordingSender:
    """Stands in for Discord: records what would have been posted."""

    def __init__(self, log: list[tuple[str, int, str]], name: str) -> None:
        self.log = log
        self.name = name

    async def send_announcement(self, delivery: Delivery) -> int:
        await asyncio.sleep(0)  # let the other runners interleave
        self.log.append(("announcement", delivery.announcement_id, delivery.scheduled_for.isoformat()))
        return len(self.log)

    async def send_reminder(self, reminder: ReminderDelivery) -> int:
        await asyncio.sleep(0)
        self.log.append(("reminder", reminder.reminder_id, self.name))
        return len(self.log)

    async def notify_paused(self, notice: PauseNotice) -> None:
        self.log.append(("paused", notice.announcement_id, notice.reason))


@pytest_asyncio.fixture
async def database(database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    async for db in open_database(database_url, tmp_path, min_size=2, max_size=10):
        yield db


def service(database: Database, clock: ManualClock) -> SchedulerService:
    settings = GuildSettingsService(GuildSettingsRepository(database), LocalEventBus(), default_prefix="!")
    return SchedulerService(ScheduleRepository(database), settings, clock)


@pytest.mark.asyncio
async def test_concurrent_runners_send_each_run_once(database: Database) -> None:
    clock = ManualClock()
    runners = [service(database, clock) for _ in range(4)]
    for number in range(5):
        await runners[0].create(guild_id=1, channel_id=10 + number, creator_id=7, message="hi", schedule="every 5m")
    event_start = clock.now() + timedelta(hours=1)
    await runners[0].add_reminder(
        guild_id=1,
        event_id=99,
        event_name="Raid",
        event_start=event_start,
        channel_id=10,
        creator_id=7,
        minutes_before=30,
    )
    sent: list[tuple[str, int, str]] = []
    senders = [RecordingSender(sent, f"r{i}") for i in range(len(runners))]
    for _ in range(6):
        clock.advance(minutes=5)
        for _ in range(3):  # several passes each, all at once
            await asyncio.gather(*(r.run_once(s) for r, s in zip(runners, senders, strict=True)))
    announcements = [entry for entry in sent if entry[0] == "announcement"]
    assert len(announcements) == 5 * 6
    assert len(set(announcements)) == len(announcements)  # no (announcement, run) twice
    assert [entry for entry in sent if entry[0] == "reminder"] != []
    assert len([entry for entry in sent if entry[0] == "reminder"]) == 1


@pytest.mark.asyncio
async def test_downtime_sends_one_catch_up_then_continues_from_now(database: Database) -> None:
    clock = ManualClock()
    runner = service(database, clock)
    created = await runner.create(guild_id=1, channel_id=10, creator_id=7, message="hi", schedule="every 30m")
    sent: list[tuple[str, int, str]] = []
    sender = RecordingSender(sent, "r")
    clock.advance(hours=5, minutes=10)
    await runner.run_once(sender)
    await runner.run_once(sender)
    assert len(sent) == 1
    (announcement,) = await runner.list_for_guild(1)
    assert announcement.row.next_run == created.announcement.row.anchor + timedelta(hours=5)
