"""/ping, /about, command sync, the error hook and the metrics/health endpoints, end to end."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import hikari
import lightbulb
import pytest

from hanabi.bot import Hanabi
from tests.harness.bot import RunningBot, running_bot
from tests.harness.discord import FakeDiscord, FakeGuild


def _fields(embed: dict[str, object]) -> dict[str, str]:
    return {str(f["name"]): str(f["value"]) for f in embed.get("fields", [])}  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_ping_answers_with_latencies(bot: RunningBot, fake: FakeDiscord, guild: FakeGuild) -> None:
    reply = await fake.slash("ping", guild=guild)
    assert reply.type == 4
    (embed,) = reply.embeds
    assert embed["title"] == "Pong!"
    fields = _fields(embed)
    # The figure is the moving average of the bot's real requests to the fake (startup made several); /ping
    # itself sends nothing but its reply.
    assert fields["REST round trip (recent)"].endswith(" ms")
    assert "Gateway heartbeat" in fields
    requests_by_ping = [r for r in fake.requests if r.method == "GET" and r.path.endswith("/users/@me")]
    reply_again = await fake.slash("ping", guild=guild)
    assert reply_again.type == 4
    assert [r for r in fake.requests if r.method == "GET" and r.path.endswith("/users/@me")] == requests_by_ping


@pytest.mark.asyncio
async def test_interaction_responses_skip_building_the_returned_message(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    reply = await fake.slash("ping", guild=guild)
    callback = next(r for r in fake.requests if r.path.endswith("/callback"))
    assert callback.query.get("with_response") == "true"  # hikari always asks for the message back
    assert "message" in callback.response["resource"]  # and the fake, like Discord, sends it
    built = bot.app.bot.entity_factory.deserialize_interaction_callback_response(callback.response)
    assert built.interaction.id == reply.interaction_id
    assert built.resource is hikari.UNDEFINED  # nothing read it, so it is not built


@pytest.mark.asyncio
async def test_about_reports_version_uptime_and_runtime(bot: RunningBot, fake: FakeDiscord, guild: FakeGuild) -> None:
    reply = await fake.slash("about", guild=guild)
    (embed,) = reply.embeds
    fields = _fields(embed)
    from hanabi import __version__

    assert fields["Version"] == __version__
    assert fields["Servers"] == "1"
    assert fields["Shards"] == "1"
    assert fields["Database"] == "PostgreSQL (external)"
    assert "hikari" in fields["Running on"]
    assert fake.token not in str(reply.embeds)


@pytest.mark.asyncio
async def test_command_sync_registers_commands_with_descriptions(bot: RunningBot, fake: FakeDiscord) -> None:
    registered = {c["name"]: c for c in fake.global_commands}
    assert {"ping", "about"} <= set(registered)
    for command in registered.values():
        if command.get("type", 1) == 1:
            assert 1 <= len(command["description"]) <= 100


@pytest.mark.asyncio
async def test_dev_guild_ids_register_commands_in_the_guild(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path
) -> None:
    async with running_bot(fake, database_url, tmp_path, dev_guild_ids=[guild.id]):
        assert {"ping", "about"} <= {c["name"] for c in fake.guild_commands.get(guild.id, [])}
        reply = await fake.slash("ping", guild=guild)
        assert reply.embeds[0]["title"] == "Pong!"


@pytest.mark.asyncio
async def test_unexpected_failure_apologises_with_an_error_id_that_is_logged(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path
) -> None:
    # A command added by the test: the same pipeline and error hook as every real command.
    class Explode(lightbulb.SlashCommand, name="explode", description="Always fails"):
        @lightbulb.invoke
        async def invoke(self, ctx: lightbulb.Context) -> None:
            raise RuntimeError("kaboom")

    def add_explode(app: Hanabi) -> None:
        app.client.register(Explode)

    async with running_bot(fake, database_url, tmp_path, allow_errors=True, prepare=add_explode) as running:
        reply = await fake.slash("explode", guild=guild)
        assert reply.ephemeral
        assert "something went wrong" in reply.content
        error_id = reply.content.split("`")[1]
        assert len(error_id) == 8
        logged = [r for r in running.logs.records if error_id in r.getMessage()]
        assert logged, "the error id must appear in the log"
        assert logged[0].exc_info is not None
        assert "kaboom" in str(logged[0].exc_info[1])


@pytest.mark.asyncio
async def test_metrics_count_commands_and_readyz_reflects_the_gateway(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path
) -> None:
    async with running_bot(fake, database_url, tmp_path, wait_ready=False) as running, aiohttp.ClientSession() as http:
        # Before READY: alive but not ready. (start() returns once shards connect; the client may not have synced.)
        async with http.get(f"{running.metrics_url}/healthz") as response:
            assert response.status == 200
        await running.app.wait_until_ready()
        async with http.get(f"{running.metrics_url}/readyz") as response:
            assert response.status == 200
            assert (await response.json())["ready"] is True

        await fake.slash("ping", guild=guild)
        async with http.get(f"{running.metrics_url}/metrics") as response:
            text = await response.text()
        assert 'hanabi_commands_total{command="ping",outcome="success"} 1.0' in text
        assert 'hanabi_command_duration_seconds_count{command="ping"} 1.0' in text
        assert "hanabi_gateway_latency_seconds" in text


@pytest.mark.asyncio
async def test_command_resolvers_are_generated_once_not_per_call(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    import inspect

    from extensions.meta import Ping

    method = inspect.getattr_static(Ping, "invoke")
    resolver = method._dependency_func
    assert resolver is not None  # generated at startup for every command
    await fake.slash("ping", guild=guild)
    await fake.slash("ping", guild=guild)
    assert method._dependency_func is resolver  # and reused by every invocation
