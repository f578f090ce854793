"""/announce and /event end to end: the real bot, the fake Discord, a ManualClock moved by the test."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from hanabi.repositories.schedules import ScheduleRepository
from hanabi.services.guild_settings import GuildSettingsService
from tests.harness.bot import RunningBot, running_bot
from tests.harness.clock import ManualClock
from tests.harness.discord import FakeChannel, FakeDiscord, FakeGuild, FakeMember
from tests.harness.payloads import Perm

POLL = 0.1  # the runner's real-time poll interval in these tests
QUIET = 0.6  # real seconds that prove "nothing was posted"
START = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest_asyncio.fixture
async def mod(guild: FakeGuild) -> FakeMember:
    role = guild.add_role("Mods", Perm.MANAGE_GUILD | Perm.MANAGE_EVENTS)
    return guild.add_member(username="mod", roles=[role])


@pytest.fixture
def news(guild: FakeGuild) -> FakeChannel:
    return guild.add_text_channel("news")


@pytest_asyncio.fixture
async def sbot(
    fake: FakeDiscord, database_url: str, tmp_path: Path, clock: ManualClock, mod: FakeMember, news: FakeChannel
) -> AsyncIterator[RunningBot]:
    async with running_bot(
        fake, database_url, tmp_path, overrides={"clock": clock}, scheduler_poll_seconds=POLL
    ) as running:
        yield running


def posts(fake: FakeDiscord, channel: FakeChannel) -> list[dict[str, Any]]:
    """Messages the bot posted on its own (not interaction replies)."""
    return [m for m in fake.messages.get(channel.id, []) if not m.get("interaction_metadata") and m.get("type") == 0]


def post_requests(fake: FakeDiscord, channel: FakeChannel) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path == f"/channels/{channel.id}/messages"]


async def quiet() -> None:
    await asyncio.sleep(QUIET)


async def create(
    fake: FakeDiscord, mod: FakeMember, channel: FakeChannel, schedule: str = "every 30m", **extra: Any
) -> int:
    reply = await fake.slash(
        "announce create", {"channel": channel, "message": "Standup!", "schedule": schedule, **extra}, user=mod
    )
    assert not reply.ephemeral, reply.text
    match = re.search(r"Announcement #(\d+)", reply.text)
    assert match, reply.text
    return int(match.group(1))


async def modlog_settings(running: RunningBot) -> GuildSettingsService:
    service: GuildSettingsService = await running.container.guild_settings_service()  # type: ignore[misc]
    return service


# announcements --------------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_interval_announcement_posts_at_the_right_times(
    sbot: RunningBot, fake: FakeDiscord, mod: FakeMember, news: FakeChannel, clock: ManualClock, guild: FakeGuild
) -> None:
    events = guild.add_role("Events", mentionable=True)
    await fake.flush()
    reply = await fake.slash(
        "announce create",
        {
            "channel": news,
            "message": f"Standup in 5 <@&{events.id}> @everyone",
            "schedule": "every 30m",
            "allow_mentions": f"<@&{events.id}>",
        },
        user=mod,
    )
    # The reply shows the next three runs as Discord timestamps.
    stamps = [int(s) for s in re.findall(r"<t:(\d+):F>", reply.text)]
    expected = [START + timedelta(minutes=30 * i) for i in (1, 2, 3)]
    assert stamps == [int(t.timestamp()) for t in expected]

    clock.advance(minutes=29)
    await quiet()
    assert posts(fake, news) == []

    clock.advance(minutes=1)
    first = await fake.wait_for_message(news, timeout=3)
    assert first["content"].startswith("Standup in 5")
    (request,) = post_requests(fake, news)
    mentions = request.json["allowed_mentions"]
    assert mentions.get("parse", []) == []  # no @everyone, no users
    assert mentions.get("roles") == [str(events.id)]  # only the role named in allow_mentions

    clock.advance(minutes=30)
    await fake.wait_for_message(news, timeout=3)
    await quiet()
    assert len(posts(fake, news)) == 2
    assert post_requests(fake, guild.channel("general")) == []
    runs = sbot.app.metrics.registry.get_sample_value
    assert runs("hanabi_scheduler_runs_total", {"kind": "announcement", "outcome": "sent"}) == 2.0
    assert runs("hanabi_scheduler_missed_runs_total") in (None, 0.0)  # on time: nothing missed


@pytest.mark.asyncio
async def test_pause_resume_delete_and_list(
    sbot: RunningBot, fake: FakeDiscord, mod: FakeMember, news: FakeChannel, clock: ManualClock
) -> None:
    announcement = await create(fake, mod, news)
    reply = await fake.slash("announce pause", {"id": announcement}, user=mod)
    assert "Paused" in reply.text
    clock.advance(minutes=45)
    await quiet()
    assert posts(fake, news) == []
    listing = await fake.slash("announce list", user=mod)
    assert f"#{announcement}" in listing.text
    assert "paused" in listing.text

    # Resuming continues from now (12:45): the next run is 13:00, nothing missed is sent.
    reply = await fake.slash("announce resume", {"id": announcement}, user=mod)
    assert "Resumed" in reply.text
    assert f"<t:{int((START + timedelta(hours=1)).timestamp())}:R>" in reply.text
    await quiet()
    assert posts(fake, news) == []
    clock.advance(minutes=15)
    await fake.wait_for_message(news, timeout=3)

    reply = await fake.slash("announce delete", {"id": announcement}, user=mod)
    assert "Deleted" in reply.text
    clock.advance(hours=2)
    await quiet()
    assert len(posts(fake, news)) == 1
    listing = await fake.slash("announce list", user=mod)
    assert "No announcements" in listing.text
    missing = await fake.slash("announce pause", {"id": announcement}, user=mod)
    assert missing.ephemeral
    assert "no announcement" in missing.text.lower()


@pytest.mark.asyncio
async def test_cron_in_a_time_zone_and_test_command(
    sbot: RunningBot, fake: FakeDiscord, mod: FakeMember, news: FakeChannel, clock: ManualClock
) -> None:
    # Thursday 2026-01-15 12:00 UTC = 13:00 in Berlin. 09:00 Berlin on weekdays is 08:00 UTC in winter.
    reply = await fake.slash(
        "announce create",
        {
            "channel": news,
            "message": "Morning!",
            "schedule": "0 9 * * mon-fri",
            "timezone": "Europe/Berlin",
            "title": "Daily",
        },
        user=mod,
    )
    stamps = [datetime.fromtimestamp(int(s), UTC) for s in re.findall(r"<t:(\d+):F>", reply.text)]
    assert stamps == [
        datetime(2026, 1, 16, 8, 0, tzinfo=UTC),  # Friday
        datetime(2026, 1, 19, 8, 0, tzinfo=UTC),  # Monday
        datetime(2026, 1, 20, 8, 0, tzinfo=UTC),
    ]
    announcement = int(re.search(r"#(\d+)", reply.text).group(1))  # type: ignore[union-attr]
    test = await fake.slash("announce test", {"id": announcement}, user=mod)
    assert test.ephemeral
    message = await fake.wait_for_message(news, timeout=3)
    assert message["embeds"][0]["title"] == "Daily"
    assert message["embeds"][0]["description"] == "Morning!"

    clock.set(datetime(2026, 1, 16, 8, 0, tzinfo=UTC))
    await fake.wait_for_message(news, timeout=3)

    bad = await fake.slash("announce create", {"channel": news, "message": "x", "schedule": "every 2m"}, user=mod)
    assert bad.ephemeral
    assert "5 minutes" in bad.text
    bad = await fake.slash("announce create", {"channel": news, "message": "x", "schedule": "0 9 * *"}, user=mod)
    assert "exactly 5" in bad.text
    bad = await fake.slash(
        "announce create",
        {"channel": news, "message": "x", "schedule": "every 1h", "timezone": "Mars/Olympus"},
        user=mod,
    )
    assert "time zone" in bad.text


@pytest.mark.asyncio
async def test_missing_permission_is_refused_at_creation(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path, clock: ManualClock, mod: FakeMember
) -> None:
    locked = guild.add_text_channel("locked")
    guild.set_bot_permissions(Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
    locked.set_overwrite(guild.bot_role.id, deny=Perm.SEND_MESSAGES)
    plain = guild.add_text_channel("plain")
    guild.everyone.permissions = Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES  # no Embed Links for anyone
    async with running_bot(fake, database_url, tmp_path, overrides={"clock": clock}, scheduler_poll_seconds=POLL):
        reply = await fake.slash(
            "announce create", {"channel": locked, "message": "hi", "schedule": "every 1h"}, user=mod
        )
        assert reply.ephemeral
        assert "Send Messages" in reply.text
        assert "View Channel" not in reply.text

        reply = await fake.slash(
            "announce create", {"channel": plain, "message": "hi", "schedule": "every 1h", "title": "T"}, user=mod
        )
        assert reply.ephemeral
        assert "Embed Links" in reply.text

        # Without a title no embed is needed: accepted.
        reply = await fake.slash(
            "announce create", {"channel": plain, "message": "hi", "schedule": "every 1h"}, user=mod
        )
        assert not reply.ephemeral
        listing = await fake.slash("announce list", user=mod)
        assert "#1" in listing.text
        assert "locked" not in listing.text


@pytest.mark.asyncio
async def test_deleted_channel_pauses_and_tells_the_modlog(
    sbot: RunningBot, fake: FakeDiscord, guild: FakeGuild, mod: FakeMember, news: FakeChannel, clock: ManualClock
) -> None:
    modlog = guild.add_text_channel("mod-log")
    await fake.flush()
    await (await modlog_settings(sbot)).update(guild.id, modlog_channel_id=modlog.id)
    announcement = await create(fake, mod, news)
    guild.delete_channel(news)
    await fake.flush()

    clock.advance(minutes=30)
    notice = await fake.wait_for_message(modlog, timeout=3)
    assert notice["embeds"][0]["title"] == f"Announcement #{announcement} paused"
    assert "deleted" in notice["embeds"][0]["description"]
    listing = await fake.slash("announce list", user=mod)
    assert "paused" in listing.text

    # Paused: later runs are not attempted at all (no retry loop).
    attempts = len(post_requests(fake, news))
    assert attempts <= 1
    clock.advance(hours=3)
    await quiet()
    assert len(post_requests(fake, news)) == attempts
    assert len(posts(fake, modlog)) == 1


@pytest.mark.asyncio
async def test_lost_permission_pauses_without_modlog(
    sbot: RunningBot, fake: FakeDiscord, guild: FakeGuild, mod: FakeMember, news: FakeChannel, clock: ManualClock
) -> None:
    announcement = await create(fake, mod, news)
    guild.everyone.permissions = Perm.VIEW_CHANNEL
    guild.set_bot_permissions(Perm.VIEW_CHANNEL)
    await fake.flush()
    clock.advance(minutes=30)

    # Discord answers 403 (the fake's @everyone changed without an event, so only the send can tell).
    text = ""
    for _ in range(30):
        text = (await fake.slash("announce list", user=mod)).text
        if "paused" in text:
            break
        await asyncio.sleep(0.1)
    assert "Send Messages" in text
    assert f"#{announcement}" in text
    assert posts(fake, news) == []


@pytest.mark.asyncio
async def test_two_bot_instances_post_each_run_exactly_once(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path, clock: ManualClock, mod: FakeMember
) -> None:
    news = guild.add_text_channel("news")
    async with running_bot(
        fake, database_url, tmp_path / "a", overrides={"clock": clock}, scheduler_poll_seconds=0.05
    ) as first:
        await create(fake, mod, news, "every 5m")
        async with running_bot(
            fake, database_url, tmp_path / "b", overrides={"clock": clock}, scheduler_poll_seconds=0.05
        ) as second:
            assert first.app is not second.app
            for step in range(1, 6):
                clock.advance(minutes=5)
                await fake.wait_for_message(news, timeout=3)
                await asyncio.sleep(0.3)  # both runners polled several times
                assert len(posts(fake, news)) == step
            # Both runners were polling the same rows; each run was claimed once and sent once.
            repository: ScheduleRepository = await second.container.schedule_repository()  # type: ignore[misc]
            runs = await repository.runs(1)
            assert [status for _, status in runs] == ["sent"] * 5
            assert len(post_requests(fake, news)) == 5
            assert second.app.bot.is_alive


@pytest.mark.asyncio
async def test_restart_after_missed_runs_posts_once(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path, clock: ManualClock, mod: FakeMember
) -> None:
    news = guild.add_text_channel("news")
    async with running_bot(fake, database_url, tmp_path, overrides={"clock": clock}, scheduler_poll_seconds=POLL):
        await create(fake, mod, news, "every 30m")
    clock.advance(hours=3, minutes=10)  # 12:00 -> 15:10 while down: six runs missed
    async with running_bot(
        fake, database_url, tmp_path, overrides={"clock": clock}, scheduler_poll_seconds=POLL
    ) as restarted:
        await fake.wait_for_message(news, timeout=3)
        await quiet()
        assert len(posts(fake, news)) == 1
        assert restarted.app.metrics.registry.get_sample_value("hanabi_scheduler_missed_runs_total") == 1.0
        # The schedule continues from now: next run 15:30, not 12:30 + n.
        clock.advance(minutes=19)
        await quiet()
        assert len(posts(fake, news)) == 1
        clock.advance(minutes=1)
        await fake.wait_for_message(news, timeout=3)
        assert len(posts(fake, news)) == 2


# scheduled events -----------------------------------------------------------------------------------------------------


def _real_now(clock: ManualClock) -> datetime:
    """Discord (and the fake) check event times against the real clock; line the ManualClock up with it."""
    now = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    clock.set(now)
    return now


def _event_posts(fake: FakeDiscord, guild: FakeGuild) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path == f"/guilds/{guild.id}/scheduled-events"]


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.asyncio
async def test_event_create_voice_and_external_bodies(
    sbot: RunningBot, fake: FakeDiscord, guild: FakeGuild, mod: FakeMember, clock: ManualClock
) -> None:
    now = _real_now(clock)
    voice = guild.channel("General")
    reply = await fake.slash("event create", {"name": "Game night", "start": "in 2h", "channel": voice}, user=mod)
    assert "Game night" in reply.text, reply.text
    body = _event_posts(fake, guild)[-1].json
    assert body["entity_type"] == 2
    assert body["channel_id"] == str(voice.id)
    assert _iso(body["scheduled_start_time"]) == now + timedelta(hours=2)
    assert body.get("privacy_level") == 2

    await (await modlog_settings(sbot)).update(guild.id, timezone="Europe/Berlin")
    year = now.year + 1
    reply = await fake.slash(
        "event create",
        {"name": "Meetup", "start": f"{year}-12-24 18:00", "end": f"{year}-12-24 20:00", "location": "Café Luna"},
        user=mod,
    )
    assert "Meetup" in reply.text, reply.text
    body = _event_posts(fake, guild)[-1].json
    assert body["entity_type"] == 3
    assert body["entity_metadata"] == {"location": "Café Luna"}
    assert "channel_id" not in body or body["channel_id"] is None
    assert _iso(body["scheduled_start_time"]) == datetime(year, 12, 24, 17, 0, tzinfo=UTC)  # 18:00 in Berlin
    assert _iso(body["scheduled_end_time"]) == datetime(year, 12, 24, 19, 0, tzinfo=UTC)

    listing = await fake.slash("event list", user=mod)
    assert "Game night" in listing.text
    assert "Meetup" in listing.text
    assert "interested" in listing.text
    assert listing.text.index("Game night") < listing.text.index("Meetup")

    event_id = next(e["id"] for e in guild.scheduled_events.values() if e["name"] == "Game night")
    reply = await fake.slash("event cancel", {"event": "game night"}, user=mod)
    assert "Cancelled" in reply.text
    patch = next(r for r in fake.requests if r.method == "PATCH" and r.path.endswith(f"/scheduled-events/{event_id}"))
    assert patch.json["status"] == 4
    listing = await fake.slash("event list", user=mod)
    assert "Game night" not in listing.text
    assert "Meetup" in listing.text


@pytest.mark.asyncio
async def test_event_refusals(
    sbot: RunningBot, fake: FakeDiscord, guild: FakeGuild, mod: FakeMember, clock: ManualClock
) -> None:
    _real_now(clock)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "Old", "start": "2020-01-01 10:00", "end": "2020-01-01 11:00", "location": "x"}, "past"),
        ({"name": "Backwards", "start": "in 3h", "end": "in 2h", "location": "x"}, "end is before the start"),
        ({"name": "Nowhere", "start": "in 3h", "end": "in 4h"}, "location"),
        ({"name": "Endless", "start": "in 3h", "location": "Park"}, "end"),
        ({"name": "Garbage", "start": "next blue moon", "channel": guild.channel("General")}, "not a time"),
    ]
    for options, fragment in cases:
        reply = await fake.slash("event create", options, user=mod)
        assert reply.ephemeral, options
        assert fragment in reply.text, reply.text
    assert _event_posts(fake, guild) == []


@pytest.mark.asyncio
async def test_reminder_fires_once_at_the_right_minute(
    sbot: RunningBot, fake: FakeDiscord, guild: FakeGuild, mod: FakeMember, news: FakeChannel, clock: ManualClock
) -> None:
    now = _real_now(clock)
    await fake.slash("event create", {"name": "Raid", "start": "in 1h", "channel": guild.channel("General")}, user=mod)
    event_id = next(e["id"] for e in guild.scheduled_events.values() if e["name"] == "Raid")
    reply = await fake.slash("event remind", {"event": event_id, "minutes": 15, "channel": news}, user=mod)
    assert "15 minutes" in reply.text, reply.text
    too_late = await fake.slash("event remind", {"event": event_id, "minutes": 90, "channel": news}, user=mod)
    assert too_late.ephemeral
    assert "already passed" in too_late.text

    clock.set(now + timedelta(minutes=44))
    await quiet()
    assert posts(fake, news) == []
    clock.set(now + timedelta(minutes=45))
    message = await fake.wait_for_message(news, timeout=3)
    assert "Raid" in message["content"]
    assert f"/events/{guild.id}/{event_id}" in message["content"]
    clock.advance(minutes=10)
    await quiet()
    assert len(posts(fake, news)) == 1


@pytest.mark.asyncio
async def test_cancelled_event_drops_its_reminders(
    sbot: RunningBot, fake: FakeDiscord, guild: FakeGuild, mod: FakeMember, news: FakeChannel, clock: ManualClock
) -> None:
    now = _real_now(clock)
    await fake.slash("event create", {"name": "Quiz", "start": "in 1h", "channel": guild.channel("General")}, user=mod)
    await fake.slash("event remind", {"event": "Quiz", "minutes": 10, "channel": news}, user=mod)
    reply = await fake.slash("event cancel", {"event": "Quiz"}, user=mod)
    assert "1 reminder" in reply.text
    clock.set(now + timedelta(minutes=55))
    await quiet()
    assert posts(fake, news) == []
    (event,) = guild.scheduled_events.values()
    assert event["status"] == 4  # cancelled, not deleted
