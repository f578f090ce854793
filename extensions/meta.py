"""/ping and /about: is the bot alive, and what is it running on."""

from __future__ import annotations

import asyncio
import math
import platform
import time

import hikari
import lightbulb

from hanabi.bot import BotInfo
from hanabi.ui import BRAND_COLOUR, format_duration

loader = lightbulb.Loader()


@loader.command
class Ping(lightbulb.SlashCommand, name="ping", description="Check that Hanabi is alive and how fast it answers"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, bot: hikari.GatewayBot) -> None:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(bot.rest.fetch_my_user(), timeout=2)
            rest = f"{(time.perf_counter() - started) * 1000:.0f} ms"
        except (TimeoutError, hikari.HTTPError):
            rest = "not answering"
        heartbeat = bot.heartbeat_latency
        gateway = f"{heartbeat * 1000:.0f} ms" if math.isfinite(heartbeat) and heartbeat > 0 else "measuring…"
        embed = hikari.Embed(title="Pong!", colour=BRAND_COLOUR)
        embed.add_field("Gateway heartbeat", gateway, inline=True)
        embed.add_field("REST round trip", rest, inline=True)
        await ctx.respond(embed=embed)


@loader.command
class About(lightbulb.SlashCommand, name="about", description="Version, uptime and what Hanabi runs on"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, bot: hikari.GatewayBot, info: BotInfo) -> None:
        embed = hikari.Embed(
            title="Hanabi",
            description="A self-hosted bot for economy, polls, announcements, music and moderation.",
            colour=BRAND_COLOUR,
        )
        embed.add_field("Version", info.version, inline=True)
        embed.add_field("Uptime", format_duration(info.uptime()), inline=True)
        embed.add_field("Servers", str(len(bot.cache.get_guilds_view())), inline=True)
        embed.add_field("Shards", str(bot.shard_count), inline=True)
        embed.add_field("Database", f"PostgreSQL ({info.database_kind})", inline=True)
        embed.add_field("Music", info.music, inline=True)
        embed.add_field(
            "Running on",
            f"Python {platform.python_version()} · hikari {hikari.__version__} · lightbulb {lightbulb.__version__}",
            inline=False,
        )
        await ctx.respond(embed=embed)
