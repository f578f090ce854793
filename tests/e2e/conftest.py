"""End-to-end fixtures: a fake Discord with one populated guild, and the real bot connected to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.harness.bot import RunningBot, running_bot
from tests.harness.clock import ManualClock
from tests.harness.discord import FakeDiscord, FakeGuild, FakeMember


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    discord = FakeDiscord()
    guild = discord.add_guild("Hanabi Test Server")  # with #general, a voice channel, the owner and the bot
    guild.add_member(username="alice")
    guild.add_member(username="bob")
    await discord.start()
    try:
        yield discord
    finally:
        await discord.stop()
    assert not discord.violations, "the bot broke Discord's rules:\n" + "\n".join(discord.violations)


@pytest_asyncio.fixture
def guild(fake: FakeDiscord) -> FakeGuild:
    return next(iter(fake.guilds.values()))


def member_named(guild: FakeGuild, username: str) -> FakeMember:
    return next(m for m in guild.members.values() if m.username == username)


@pytest_asyncio.fixture
def alice(guild: FakeGuild) -> FakeMember:
    """A regular member without special permissions."""
    return member_named(guild, "alice")


@pytest_asyncio.fixture
def bob(guild: FakeGuild) -> FakeMember:
    return member_named(guild, "bob")


@pytest_asyncio.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest_asyncio.fixture
async def bot(fake: FakeDiscord, database_url: str, tmp_path: Path, clock: ManualClock) -> AsyncIterator[RunningBot]:
    async with running_bot(fake, database_url, tmp_path, overrides={"clock": clock}) as running:
        yield running
