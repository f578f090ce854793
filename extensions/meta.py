"""/ping and /about: is the bot alive, and what is it running on."""

from __future__ import annotations

import math
import platform

import hikari
import lightbulb

from hanabi.bot import BotInfo
from hanabi.infra.clock import Clock
from hanabi.infra.cluster import Cluster
from hanabi.infra.observability import Observability
from hanabi.ui import BRAND_COLOUR, format_duration
from hanabi.ui.checks import owner_only

loader = lightbulb.Loader()


@loader.command
class Ping(lightbulb.SlashCommand, name="ping", description="Check that Hanabi is alive and how fast it answers"):
    # Answered from memory, with no request of its own: the REST figure is the moving average of the bot's recent
    # Discord requests (its replies included), so /ping costs one reply and stays cheap under load.
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, bot: hikari.GatewayBot, ops: Observability) -> None:
        recent = ops.rest_latency()
        rest = f"{recent * 1000:.0f} ms" if recent is not None else "no requests yet"
        heartbeat = bot.heartbeat_latency
        gateway = f"{heartbeat * 1000:.0f} ms" if math.isfinite(heartbeat) and heartbeat > 0 else "measuring…"
        embed = hikari.Embed(title="Pong!", colour=BRAND_COLOUR)
        embed.add_field("Gateway heartbeat", gateway, inline=True)
        embed.add_field("REST round trip (recent)", rest, inline=True)
        await ctx.respond(embed=embed)


@loader.command
class About(lightbulb.SlashCommand, name="about", description="Version, uptime and what Hanabi runs on"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, bot: hikari.GatewayBot, info: BotInfo, cluster: Cluster) -> None:
        fleet = await cluster.snapshot()
        guilds = sum(process.guilds for process in fleet) if fleet else len(bot.cache.get_guilds_view())
        shards_running = sum(len(process.shards) for process in fleet) if fleet else len(bot.shards)
        embed = hikari.Embed(
            title="Hanabi",
            description="A self-hosted bot for economy, polls, announcements, music and moderation.",
            colour=BRAND_COLOUR,
        )
        embed.add_field("Version", info.version, inline=True)
        embed.add_field("Uptime", format_duration(info.uptime()), inline=True)
        embed.add_field("Servers", str(guilds), inline=True)
        shards = str(bot.shard_count)
        if len(fleet) > 1 or shards_running != bot.shard_count:
            shards = f"{shards_running} of {bot.shard_count} in {len(fleet)} processes"
        embed.add_field("Shards", shards, inline=True)
        embed.add_field("Database", f"PostgreSQL ({info.database_kind})", inline=True)
        embed.add_field("Music", info.music, inline=True)
        embed.add_field(
            "Running on",
            f"Python {platform.python_version()} · hikari {hikari.__version__} · lightbulb {lightbulb.__version__}",
            inline=False,
        )
        await ctx.respond(embed=embed)


@loader.command
class Shards(
    lightbulb.SlashCommand,
    name="shards",
    description="Every shard of every process: state, latency, servers (owners only)",
    hooks=[owner_only],
):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, cluster: Cluster, clock: Clock) -> None:
        fleet = await cluster.snapshot()
        now = clock.now().timestamp()
        embed = hikari.Embed(title="Shards", colour=BRAND_COLOUR)
        if not fleet:
            embed.description = "No process has reported yet."
        for process in fleet[:25]:
            lines = [
                f"`#{shard.shard_id:>3}` {shard.state} · "
                f"{f'{shard.latency_ms:.0f} ms' if shard.latency_ms is not None else 'no heartbeat yet'} · "
                f"{shard.guilds} servers"
                for shard in process.shards
            ]
            age = max(0, int(now - process.updated_at))
            embed.add_field(
                f"{process.hostname} (pid {process.pid}) · heartbeat {age}s ago",
                "\n".join(lines)[:1024] or "no shards",
                inline=False,
            )
        total = sum(process.guilds for process in fleet)
        embed.set_footer(f"{len(fleet)} processes · {total} servers")
        await ctx.respond(embed=embed, ephemeral=True)
