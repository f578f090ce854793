"""/settings: per-server settings. Manage Server only. Other features add their subcommands to `settings`."""

from __future__ import annotations

import hikari
import lightbulb
from lightbulb.prefab import checks

from hanabi.errors import InvalidInput
from hanabi.services.guild_settings import GuildSettingsService
from hanabi.ui.interactions import NO_MENTIONS

loader = lightbulb.Loader()

settings = lightbulb.Group(
    "settings", "This server's Hanabi settings", default_member_permissions=hikari.Permissions.MANAGE_GUILD
)
MANAGE_GUILD = checks.has_permissions(hikari.Permissions.MANAGE_GUILD)


@settings.register
class ModlogChannel(
    lightbulb.SlashCommand,
    name="modlog",
    description="The channel where moderation actions are logged",
    hooks=[MANAGE_GUILD],
):
    channel = lightbulb.channel(
        "channel",
        "Mod-log channel (leave empty to see the current one)",
        channel_types=[hikari.ChannelType.GUILD_TEXT, hikari.ChannelType.GUILD_NEWS],
        default=None,
    )
    off = lightbulb.boolean("off", "Stop posting to a mod log", default=False)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, guild_settings: GuildSettingsService) -> None:
        if ctx.guild_id is None:
            raise InvalidInput("This command works only in a server.")
        if self.off:
            await guild_settings.update(ctx.guild_id, modlog_channel_id=None)
            await ctx.respond("The mod log is off.", ephemeral=True, **NO_MENTIONS)
            return
        if self.channel is None:
            current = (await guild_settings.get(ctx.guild_id)).modlog_channel_id
            text = f"The mod log is <#{current}>." if current else "No mod-log channel is set."
            await ctx.respond(text, ephemeral=True, **NO_MENTIONS)
            return
        await guild_settings.update(ctx.guild_id, modlog_channel_id=int(self.channel.id))
        await ctx.respond(
            f"Moderation actions will be logged in <#{self.channel.id}>. Make sure I can send messages and embeds "
            "there.",
            ephemeral=True,
            **NO_MENTIONS,
        )


@settings.register
class Prefix(
    lightbulb.SlashCommand,
    name="prefix",
    description="The text-command prefix in this server (a mention of the bot always works too)",
    hooks=[MANAGE_GUILD],
):
    prefix = lightbulb.string(
        "prefix", "1 to 5 characters without spaces; leave empty to see the current one", default=None
    )
    reset = lightbulb.boolean("reset", "Go back to the bot's default prefix", default=False)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, guild_settings: GuildSettingsService) -> None:
        if ctx.guild_id is None:
            raise InvalidInput("This command works only in a server.")
        if self.reset:
            effective = await guild_settings.update(ctx.guild_id, prefix=None)
            await ctx.respond(f"The prefix is back to `{effective.prefix}`.", ephemeral=True, **NO_MENTIONS)
            return
        if self.prefix is None:
            current = (await guild_settings.get(ctx.guild_id)).prefix
            await ctx.respond(f"Text commands here start with `{current}`.", ephemeral=True, **NO_MENTIONS)
            return
        effective = await guild_settings.update(ctx.guild_id, prefix=self.prefix)
        await ctx.respond(
            f"Text commands here now start with `{effective.prefix}`, for example `{effective.prefix}help`.",
            ephemeral=True,
            **NO_MENTIONS,
        )


@settings.register
class Timezone(
    lightbulb.SlashCommand,
    name="timezone",
    description="This server's time zone, used for announcements and events",
    hooks=[MANAGE_GUILD],
):
    zone = lightbulb.string(
        "zone", "An IANA name such as Europe/Berlin; leave empty to see the current one", default=None
    )

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, guild_settings: GuildSettingsService) -> None:
        if ctx.guild_id is None:
            raise InvalidInput("This command works only in a server.")
        if self.zone is None:
            current = (await guild_settings.get(ctx.guild_id)).timezone
            await ctx.respond(f"This server's time zone is `{current}`.", ephemeral=True, **NO_MENTIONS)
            return
        effective = await guild_settings.update(ctx.guild_id, timezone=self.zone.strip())
        await ctx.respond(f"This server's time zone is now `{effective.timezone}`.", ephemeral=True, **NO_MENTIONS)


loader.command(settings)
