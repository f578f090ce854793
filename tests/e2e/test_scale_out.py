"""Several bot processes, each with its own shards, sharing PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import pytest_asyncio
import redis.asyncio as redis_asyncio

from tests.harness.bot import RunningBot, running_bot, start_bot_process
from tests.harness.discord import FakeDiscord, FakeGuild


@pytest_asyncio.fixture
async def two_shard_fake() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(shard_count=2, max_concurrency=1)
    fake.add_guild("On shard 0", shard_id=0, members=1)
    fake.add_guild("On shard 1", shard_id=1, members=1)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    assert not fake.violations, fake.violations


def _guild_on(fake: FakeDiscord, shard: int) -> FakeGuild:
    return next(g for g in fake.guilds.values() if (g.id >> 22) % 2 == shard)


def _commands_answered(bot: RunningBot, name: str) -> float:
    value = bot.app.metrics.registry.get_sample_value("hanabi_commands_total", {"command": name, "outcome": "success"})
    return value or 0.0


@pytest.mark.asyncio
async def test_two_processes_split_the_shards_and_share_state(
    two_shard_fake: FakeDiscord, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    fake = two_shard_fake
    namespace = f"test-{uuid.uuid4().hex[:8]}"  # keeps concurrent test runs apart on the shared Redis
    common = {"shard_count": 2, "redis_url": redis_url, "redis_namespace": namespace}
    async with AsyncExitStack() as stack:
        first, second = await asyncio.gather(
            stack.enter_async_context(running_bot(fake, database_url, tmp_path / "a", shard_ids=[0], **common)),
            stack.enter_async_context(running_bot(fake, database_url, tmp_path / "b", shard_ids=[1], **common)),
        )
        assert [p["shard"] for p in fake.identifies] in ([[0, 2], [1, 2]], [[1, 2], [0, 2]])

        # The 5-second identify window is shared by the fleet (max_concurrency 1: one bucket).
        gap = abs(fake.identifies[1]["received_at"] - fake.identifies[0]["received_at"])
        assert gap >= 5.0, f"identifies only {gap:.2f}s apart"

        # Each process answers for its own guilds only.
        guild0, guild1 = _guild_on(fake, 0), _guild_on(fake, 1)
        await fake.slash("ping", guild=guild0)
        await fake.slash("ping", guild=guild1)
        await fake.slash("ping", guild=guild1)
        assert (_commands_answered(first, "ping"), _commands_answered(second, "ping")) == (1.0, 2.0)

        # /about counts the whole fleet.
        about = await fake.slash("about", guild=guild0)
        fields = {f["name"]: f["value"] for f in about.embeds[0]["fields"]}
        assert fields["Servers"] == "2"
        assert fields["Shards"] == "2 of 2 in 2 processes"

        # A settings change made through one process reaches the other within a second.
        settings_second = await second.container.guild_settings_service()
        assert (await settings_second.get(guild1.id)).prefix == "!"  # now cached in the second process
        settings_first = await first.container.guild_settings_service()
        await settings_first.update(guild1.id, prefix="?")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        while (await settings_second.get(guild1.id)).prefix != "?":
            assert loop.time() < deadline, "the other process still serves the old prefix"
            await asyncio.sleep(0.02)
        channel = guild1.default_channel
        await fake.say("?ping", channel=channel)
        reply = await fake.wait_for_message(channel.id, lambda m: bool(m["embeds"]))
        assert reply["embeds"][0]["title"] == "Pong!"

        # Redis drops every connection (as on a restart): the bus reconnects, caches are dropped, all keeps working.
        admin = redis_asyncio.from_url(redis_url)
        try:
            for client in await admin.client_list():
                if client.get("name") != "admin" and int(client["id"]) != int(await admin.client_id()):
                    await admin.client_kill_filter(_id=client["id"])
        finally:
            await admin.aclose()
        await first.container.event_bus()  # still the same bus object
        await asyncio.sleep(1.5)  # the bus retries after a second
        await settings_first.update(guild1.id, prefix="$")
        deadline = loop.time() + 2.0
        while (await settings_second.get(guild1.id)).prefix != "$":
            assert loop.time() < deadline, "settings did not propagate after Redis came back"
            await asyncio.sleep(0.05)
        await fake.slash("ping", guild=guild0)
        assert _commands_answered(first, "ping") == 2.0


@pytest.mark.asyncio
async def test_a_killed_process_comes_back_while_the_other_keeps_serving(
    two_shard_fake: FakeDiscord, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    fake = two_shard_fake
    namespace = f"test-{uuid.uuid4().hex[:8]}"

    def env(shard: int) -> dict[str, str]:
        return {
            "DISCORD_TOKEN": fake.token,
            "DISCORD_REST_URL": fake.rest_url,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "REDIS_NAMESPACE": namespace,
            "SHARD_COUNT": "2",
            "SHARD_IDS": str(shard),
        }

    first = await start_bot_process(env(0), cwd=tmp_path)
    second = await start_bot_process(env(1), cwd=tmp_path)
    try:
        await first.wait_for_line("online as", timeout=30)
        await second.wait_for_line("online as", timeout=30)
        guild0, guild1 = _guild_on(fake, 0), _guild_on(fake, 1)

        second.process.kill()  # no clean shutdown: like an OOM kill
        await second.exited()
        assert (await fake.slash("ping", guild=guild0)).embeds[0]["title"] == "Pong!"

        identifies_before = len(fake.identifies)
        second = await start_bot_process(env(1), cwd=tmp_path)
        await second.wait_for_line("online as", timeout=30)
        assert len(fake.identifies) == identifies_before + 1
        assert fake.identifies[-1]["shard"] == [1, 2]
        assert (await fake.slash("ping", guild=guild1)).embeds[0]["title"] == "Pong!"
        assert (await fake.slash("ping", guild=guild0)).embeds[0]["title"] == "Pong!"
    finally:
        assert await first.terminate() == 0, first.text
        if second.process.returncode is None:
            assert await second.terminate() == 0, second.text
    assert not re.search(r"Traceback|ERROR", first.text), first.text
