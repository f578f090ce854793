"""Each operational metric moves when it should, on the real bot against the fake Discord."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import hikari
import lightbulb
import pytest
from hikari.impl.rate_limits import WindowedBurstRateLimiter

from hanabi.bot import Hanabi
from tests.harness.bot import running_bot
from tests.harness.discord import FakeDiscord, FakeGuild
from tests.harness.discord.driver import NoResponseError
from tests.harness.snowflakes import SnowflakeFactory
from tests.ops.metrics_helpers import scrape, total, value


@pytest.mark.asyncio
async def test_command_is_counted_timed_and_logged_once(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_bot(fake, database_url, tmp_path) as running:
        before = await scrape(running.metrics_url)
        with caplog.at_level(logging.INFO, logger="hanabi.commands"):
            await fake.slash("ping", guild=guild)
        after = await scrape(running.metrics_url)
    name = "hanabi_commands_total"
    assert (
        value(after, name, command="ping", outcome="success")
        == value(before, name, command="ping", outcome="success") + 1
    )
    assert total(after, "hanabi_command_duration_seconds_count", command="ping") == 1
    records = [r for r in caplog.records if r.name == "hanabi.commands"]
    assert len(records) == 1
    record = records[0]
    assert (record.command, record.outcome, record.guild_id) == ("ping", "success", guild.id)  # type: ignore[attr-defined]
    assert record.user_id == fake.owner_id  # type: ignore[attr-defined]
    assert isinstance(record.duration_ms, float)  # type: ignore[attr-defined]
    message = record.getMessage()
    assert "/ping success" in message
    assert fake.token not in message


@pytest.mark.asyncio
async def test_gateway_events_shard_state_readiness_and_guilds(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path
) -> None:
    async with running_bot(fake, database_url, tmp_path) as running:
        before = await scrape(running.metrics_url)
        assert value(before, "hanabi_gateway_events_total", event="READY") == 1
        assert value(before, "hanabi_gateway_events_total", event="GUILD_CREATE") >= 1
        assert value(before, "hanabi_gateway_connected", shard="0") == 1
        assert value(before, "hanabi_ready") == 1
        assert value(before, "hanabi_guilds") == 1
        await fake.slash("ping", guild=guild)
        after = await scrape(running.metrics_url)
        name = "hanabi_gateway_events_total"
        assert value(after, name, event="INTERACTION_CREATE") == value(before, name, event="INTERACTION_CREATE") + 1


@pytest.mark.asyncio
async def test_not_ready_before_start_and_after_shutdown(fake: FakeDiscord, database_url: str, tmp_path: Path) -> None:
    async with running_bot(fake, database_url, tmp_path, wait_ready=False) as running:
        app = running.app
        app.ops.refresh(app.bot, client_started=False)
        assert app.metrics.ready._value.get() == 0
        await app.wait_until_ready()
        assert value(await scrape(running.metrics_url), "hanabi_ready") == 1
    app.ops.refresh(app.bot, client_started=True)  # shards are closed now
    assert app.metrics.ready._value.get() == 0


@pytest.mark.asyncio
async def test_rest_requests_and_429_rate_limit_waits(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path
) -> None:
    async with running_bot(fake, database_url, tmp_path) as running:
        before = await scrape(running.metrics_url)
        assert total(before, "hanabi_rest_requests_total", method="GET", status="200") >= 1  # /gateway/bot, /users/@me
        # Answer /ping's reply once with 429: hikari waits and sends it again.
        fake.fail_next(
            "POST", r"/interactions/\d+/[^/]+/callback$", status=429, code=0, message="You are being rate limited."
        )
        reply = await fake.slash("ping", guild=guild)
        assert reply.embeds[0]["title"] == "Pong!"
        after = await scrape(running.metrics_url)
    assert value(after, "hanabi_rest_requests_total", method="POST", status="429") == 1
    assert value(after, "hanabi_rest_ratelimit_waits_total", kind="response") == 1
    assert value(after, "hanabi_rest_invalid_requests_total") == value(before, "hanabi_rest_invalid_requests_total") + 1
    assert total(after, "hanabi_rest_requests_total", method="POST") > total(
        before, "hanabi_rest_requests_total", method="POST"
    )
    assert total(after, "hanabi_rest_request_duration_seconds_count") > total(
        before, "hanabi_rest_request_duration_seconds_count"
    )


@pytest.mark.asyncio
async def test_bucket_waits_are_counted_from_hikaris_rate_limiter(
    fake: FakeDiscord, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_bot(fake, database_url, tmp_path) as running:
        before = await scrape(running.metrics_url)
        # The same limiter class hikari's REST buckets use: the second acquire in the window has to wait.
        limiter = WindowedBurstRateLimiter("ops-test-bucket", period=0.2, limit=1)
        with limiter, caplog.at_level(logging.INFO):
            await limiter.acquire()
            await limiter.acquire()
        after = await scrape(running.metrics_url)
    name = "hanabi_rest_ratelimit_waits_total"
    assert value(after, name, kind="bucket") == value(before, name, kind="bucket") + 1
    # The DEBUG record was counted but not shown: hikari.ratelimits still logs at INFO for the handlers.
    assert not [r for r in caplog.records if "ops-test-bucket" in r.getMessage()]


@pytest.mark.asyncio
async def test_late_interactions_are_counted(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path
) -> None:
    class Slow(lightbulb.SlashCommand, name="slow", description="Answers after 2.6 seconds"):
        @lightbulb.invoke
        async def invoke(self, ctx: lightbulb.Context) -> None:
            await asyncio.sleep(2.6)
            await ctx.respond("done")

    def add_slow(app: Hanabi) -> None:
        app.client.register(Slow)

    async with running_bot(fake, database_url, tmp_path, prepare=add_slow) as running:
        await fake.slash("ping", guild=guild)
        quick = await scrape(running.metrics_url)
        assert value(quick, "hanabi_interactions_late_total") == 0
        assert value(quick, "hanabi_interaction_response_seconds_count") == 1
        await fake.slash("slow", guild=guild, timeout=6)
        late = await scrape(running.metrics_url)
    assert value(late, "hanabi_interactions_late_total") == 1
    assert value(late, "hanabi_interaction_response_seconds_count") == 2
    assert value(late, "hanabi_interaction_response_seconds_bucket", le="2.5") == 1


@pytest.mark.asyncio
async def test_database_pool_memory_and_event_loop_lag(fake: FakeDiscord, database_url: str, tmp_path: Path) -> None:
    async with running_bot(fake, database_url, tmp_path, db_pool_max=7) as running:
        samples = await scrape(running.metrics_url)
        assert value(samples, "hanabi_db_pool_max") == 7
        assert 1 <= value(samples, "hanabi_db_pool_size") <= 7
        assert 0 <= value(samples, "hanabi_db_pool_idle") <= value(samples, "hanabi_db_pool_size")
        assert value(samples, "process_resident_memory_bytes") > 10_000_000
        # Block the event loop for 0.5 s: the monitor (checking every 0.25 s) wakes up at least 0.25 s late.
        time.sleep(0.5)  # noqa: ASYNC251 - blocking on purpose
        await asyncio.sleep(0.3)
        lagged = await scrape(running.metrics_url)
        assert value(lagged, "hanabi_event_loop_lag_max_seconds") >= 0.2
        # The maximum resets at each scrape; a quiet loop shows little lag again.
        await asyncio.sleep(0.6)
        quiet = await scrape(running.metrics_url)
        assert value(quiet, "hanabi_event_loop_lag_max_seconds") < 0.2


@pytest.mark.asyncio
async def test_an_interaction_too_old_to_answer_is_shed_and_counted(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class FiveSecondsBehind(SnowflakeFactory):
        """Ids created 5 s ago: an interaction that waited in a backlog (or in the network) that long."""

        def next(self) -> int:
            return super().next() - (5_000 << 22)

    async with running_bot(fake, database_url, tmp_path) as running:
        await fake.slash("ping", guild=guild)  # a prompt one first: how fast delivery is, clock offset included
        fresh_ids = fake.snowflakes
        fake.snowflakes = FiveSecondsBehind()
        with caplog.at_level(logging.WARNING, logger="hanabi.infra.intake"), pytest.raises(NoResponseError):
            await fake.slash("ping", guild=guild, timeout=1.5)
        fake.snowflakes = fresh_ids
        reply = await fake.slash("ping", guild=guild)  # and the bot carries on with the next
        after = await scrape(running.metrics_url)
    assert reply.embeds[0]["title"] == "Pong!"
    assert value(after, "hanabi_interactions_expired_total") == 1
    assert value(after, "hanabi_gateway_events_total", event="INTERACTION_CREATE") == 3
    assert value(after, "hanabi_commands_total", command="ping", outcome="success") == 2
    assert any("expired before the bot could answer" in r.getMessage() for r in caplog.records)


@pytest.mark.asyncio
async def test_the_bots_own_messages_reach_no_listener(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path
) -> None:
    seen: list[str] = []

    def listen(app: Hanabi) -> None:
        async def on_message(event: hikari.MessageCreateEvent) -> None:
            seen.append(event.message.content or "")

        app.bot.subscribe(hikari.MessageCreateEvent, on_message)

    async with running_bot(fake, database_url, tmp_path, prepare=listen) as running:
        await fake.slash("ping", guild=guild)  # its public reply comes back as MESSAGE_CREATE, as on Discord
        await fake.say("from the bot itself", author=guild.bot_member)
        await fake.say("from a member")
        await fake.flush()
        await asyncio.sleep(0.2)
        after = await scrape(running.metrics_url)
    assert seen == ["from a member"]
    assert value(after, "hanabi_gateway_events_total", event="MESSAGE_CREATE") == 3


@pytest.mark.asyncio
async def test_an_answer_discord_refuses_as_expired_is_counted_without_an_error_reply(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_bot(fake, database_url, tmp_path) as running:
        fake.interaction_deadline = 0.0  # every answer now arrives "after 3 s": Discord says 10062
        with caplog.at_level(logging.WARNING):
            late = await fake.slash("ping", guild=guild)
            await fake.quiesce()
        after = await scrape(running.metrics_url)
    assert late.type is None
    callbacks = [r for r in fake.requests if r.path.endswith("/callback")]
    assert [r.response["code"] for r in callbacks] == [10062]  # one attempt: no error reply that would fail too
    assert not [r for r in fake.requests if "/webhooks/" in r.path]  # nor a follow-up
    assert value(after, "hanabi_interactions_expired_total") == 1
    assert value(after, "hanabi_commands_total", command="ping", outcome="expired") == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # too slow is not a bug with a traceback
    assert len(fake.violations) == 1
    assert "first response after" in fake.violations[0]
    fake.violations.clear()  # the late answer was this test's doing


@pytest.mark.asyncio
async def test_an_interaction_too_old_when_its_command_starts_is_shed_there(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path
) -> None:
    class ThreeSecondsBehind(SnowflakeFactory):
        def next(self) -> int:
            return super().next() - (3_000 << 22)

    async with running_bot(fake, database_url, tmp_path) as running:
        # Let it through where the gateway hands it over (as if it had arrived in time and then waited in the
        # event loop): the check where the command starts must drop it.
        running.app.intake.late_on_arrival = 60
        await fake.slash("ping", guild=guild)
        fresh_ids = fake.snowflakes
        fake.snowflakes = ThreeSecondsBehind()
        with pytest.raises(NoResponseError):  # not answered: Discord would have refused it
            await fake.slash("ping", guild=guild, timeout=1.5)
        fake.snowflakes = fresh_ids
        after = await scrape(running.metrics_url)
    assert value(after, "hanabi_interactions_expired_total") == 1
    assert value(after, "hanabi_commands_total", command="ping", outcome="expired") == 1
    assert value(after, "hanabi_commands_total", command="ping", outcome="success") == 1
