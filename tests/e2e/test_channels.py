"""The channel directory that replaces hikari's channel cache: fetched once, kept current by gateway events."""

from __future__ import annotations

import pytest

from hanabi.infra.channels import ChannelDirectory
from tests.harness.bot import RunningBot
from tests.harness.discord import FakeDiscord, FakeGuild


def channel_fetches(fake: FakeDiscord, channel_id: int) -> int:
    return sum(1 for r in fake.requests if r.method == "GET" and r.path.endswith(f"/channels/{channel_id}"))


@pytest.mark.asyncio
async def test_fetched_once_then_kept_current_by_update_and_delete_events(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    channels = bot.app.channels
    general = guild.channel("general")
    assert not bot.app.bot.cache.get_guild_channels_view(), "hikari's channel cache is off"

    first = await channels.get(general.id)
    assert first is not None
    assert first.name == "general"
    again = await channels.get(general.id)
    assert again is first
    assert channel_fetches(fake, general.id) == 1

    general.name = "lobby"
    fake.notify("CHANNEL_UPDATE", general.payload(), guild_id=guild.id)
    await fake.wait_until(
        lambda: True if (known := channels.cached(general.id)) is not None and known.name == "lobby" else None,
        5,
        "the rename to reach the directory",
    )
    assert channel_fetches(fake, general.id) == 1  # the event, not a request

    guild.delete_channel(general)
    await fake.wait_until(lambda: True if len(channels) == 0 else None, 5, "the deletion to reach the directory")
    assert await channels.get(general.id) is None  # and Discord answers 404


@pytest.mark.asyncio
async def test_the_oldest_entries_go_first_and_unknown_channels_are_none(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    channels = ChannelDirectory(bot.app.bot.rest, limit=2)
    general = guild.channel("general")
    others = [guild.add_text_channel(f"room-{i}") for i in range(2)]
    assert await channels.permission_channel(general.id) is not None
    for channel in others:
        assert await channels.get(channel.id) is not None
    assert len(channels) == 2
    await channels.get(general.id)  # evicted as the oldest: fetched again
    assert channel_fetches(fake, general.id) == 2
    assert await channels.get(1) is None  # no such channel
