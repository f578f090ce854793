"""Music in voice channels: /play and the queue commands, /nowplaying with buttons, voice event forwarding.

Discord facts (who is in which voice channel, roles, the bot's permissions) are read here and handed to
`MusicService` as plain numbers; the service owns every queue rule. Audio is played by a Lavalink node.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Final, TypedDict

import hikari
import lightbulb
import miru

from hanabi.errors import DomainError, InvalidInput, PermissionDenied
from hanabi.infra.channels import ChannelDirectory
from hanabi.infra.lavalink import LavalinkBackend
from hanabi.services.music import (
    Caller,
    Enqueued,
    GuildPlayer,
    LoopMode,
    MusicService,
    Notice,
    QueuePosition,
    Track,
    format_ms,
    parse_timestamp,
)
from hanabi.ui import BRAND_COLOUR, format_duration
from hanabi.ui.pagination import Paginator
from hanabi.ui.permissions import effective_permissions, permission_names

log = logging.getLogger(__name__)
loader = lightbulb.Loader()


class _Mentions(TypedDict):
    mentions_everyone: bool
    user_mentions: bool
    role_mentions: bool


NO_MENTIONS: Final[_Mentions] = {"mentions_everyone": False, "user_mentions": False, "role_mentions": False}
GUILD_ONLY = [hikari.ApplicationContextType.GUILD]
VOICE_NEEDS = hikari.Permissions.VIEW_CHANNEL | hikari.Permissions.CONNECT | hikari.Permissions.SPEAK
MODERATOR_PERMISSIONS = (
    hikari.Permissions.ADMINISTRATOR
    | hikari.Permissions.MANAGE_GUILD
    | hikari.Permissions.MANAGE_CHANNELS
    | hikari.Permissions.MOVE_MEMBERS
)
QUEUE_PAGE_SIZE = 10
LOOP_LABELS = {LoopMode.OFF: "Off", LoopMode.TRACK: "This track", LoopMode.QUEUE: "The whole queue"}


# Discord facts ------------------------------------------------------------------------------------------------------


class CacheVoicePresence:
    """`VoicePresence` from hikari's voice-state cache: people (not bots) in a voice channel."""

    def __init__(self, bot: hikari.GatewayBot) -> None:
        self._bot = bot

    def humans_in(self, guild_id: int, channel_id: int) -> int:
        states = self._bot.cache.get_voice_states_view_for_channel(guild_id, channel_id)
        return sum(1 for state in states.values() if state.member is not None and not state.member.is_bot)


def _caller(bot: hikari.GatewayBot, guild_id: int, member: hikari.Member | None, user_id: int) -> Caller:
    state = bot.cache.get_voice_state(guild_id, user_id)
    role_ids = frozenset(int(r) for r in member.role_ids) if member is not None else frozenset()
    permissions = getattr(member, "permissions", None)
    if not isinstance(permissions, hikari.Permissions):
        permissions = effective_permissions(bot.cache, guild_id, user_id, role_ids, None)
    return Caller(
        user_id=user_id,
        voice_channel_id=int(state.channel_id) if state is not None and state.channel_id is not None else None,
        role_ids=role_ids,
        is_moderator=bool(permissions & MODERATOR_PERMISSIONS),
    )


def _guild_id(ctx: lightbulb.Context) -> int:
    if ctx.guild_id is None:
        raise InvalidInput("Music works in servers only.")
    return int(ctx.guild_id)


async def _check_bot_can_join(
    bot: hikari.GatewayBot, channels: ChannelDirectory, guild_id: int, channel_id: int
) -> None:
    me = bot.get_me()
    if me is None:
        return
    member = bot.cache.get_member(guild_id, me.id)
    roles = [int(r) for r in member.role_ids] if member is not None else []
    have = effective_permissions(bot.cache, guild_id, int(me.id), roles, await channels.get(channel_id))
    missing = VOICE_NEEDS & ~have
    if missing:
        raise PermissionDenied(f"I need the {permission_names(missing)} permission in <#{channel_id}> to play there.")


# rendering ----------------------------------------------------------------------------------------------------------


def _escape(text: str) -> str:
    for char in "\\*_~`|[]>":
        text = text.replace(char, f"\\{char}")
    return text


def _link(track: Track, limit: int = 80) -> str:
    title = track.title if len(track.title) <= limit else track.title[: limit - 1] + "…"
    title = _escape(title)
    if track.uri and track.uri.startswith(("http://", "https://")) and len(track.uri) <= 300:
        return f"[{title}]({track.uri})"
    return f"**{title}**"


def _length(track: Track) -> str:
    return "live" if track.is_stream else format_ms(track.length_ms)


def progress_bar(position_ms: int, length_ms: int, width: int = 18) -> str:
    if length_ms <= 0:
        return "🔴 live"
    filled = min(width, int(width * position_ms / length_ms))
    return f"`{'▬' * filled}🔘{'▬' * (width - filled)}` {format_ms(position_ms)} / {format_ms(length_ms)}"


def _enqueued_text(result: Enqueued, joined_channel: int | None) -> str:
    lines: list[str] = []
    if joined_channel is not None:
        lines.append(f"Joined <#{joined_channel}>.")
    first = result.tracks[0]
    if result.playlist_name is not None or len(result.tracks) > 1:
        name = f" from playlist **{_escape(result.playlist_name)}**" if result.playlist_name else ""
        lines.append(f"Added **{len(result.tracks)} tracks**{name} to the queue.")
        if result.truncated_from is not None:
            lines.append(f"The playlist has {result.truncated_from} tracks; I added the first {len(result.tracks)}.")
        if result.started:
            lines.append(f"Now playing {_link(first)} ({_length(first)}).")
    elif result.started:
        lines.append(f"Now playing {_link(first)} by {_escape(first.author)} ({_length(first)}).")
    else:
        lines.append(f"Added {_link(first)} ({_length(first)}) to the queue at position {result.queue_position}.")
    return "\n".join(lines)


def now_playing_embed(player: GuildPlayer) -> hikari.Embed:
    current = player.current
    if current is None:
        embed = hikari.Embed(title="Nothing is playing", colour=BRAND_COLOUR)
        embed.description = "Add something with /play." if not player.upcoming else "Use /skip to start the queue."
    else:
        track = current.track
        embed = hikari.Embed(
            title=track.title[:256],
            url=track.uri if track.uri and track.uri.startswith(("http://", "https://")) else None,
            colour=BRAND_COLOUR,
        )
        embed.set_author(name=track.author[:256])
        if track.artwork_url and track.artwork_url.startswith(("http://", "https://")):
            embed.set_thumbnail(track.artwork_url)
        embed.description = progress_bar(player.position_ms, 0 if track.is_stream else track.length_ms)
        embed.add_field("Requested by", f"<@{current.requester_id}>", inline=True)
    embed.add_field("Loop", LOOP_LABELS[player.loop], inline=True)
    embed.add_field("Volume", f"{player.volume}%", inline=True)
    embed.add_field("State", "Paused" if player.paused else ("Playing" if current else "Idle"), inline=True)
    embed.add_field("Up next", str(len(player.upcoming)), inline=True)
    return embed


def queue_pages(player: GuildPlayer) -> list[hikari.Embed]:
    header: str
    if player.current is not None:
        track = player.current.track
        state = " (paused)" if player.paused else ""
        header = (
            f"**Now playing{state}:** {_link(track)} · <@{player.current.requester_id}>\n"
            f"{progress_bar(player.position_ms, 0 if track.is_stream else track.length_ms)}"
        )
    else:
        header = "**Nothing is playing.**"
    upcoming = player.upcoming
    chunks = [upcoming[i : i + QUEUE_PAGE_SIZE] for i in range(0, len(upcoming), QUEUE_PAGE_SIZE)] or [[]]
    pages: list[hikari.Embed] = []
    for number, chunk in enumerate(chunks):
        lines = [header, "", "**Up next:**" if upcoming else "The queue is empty. Add tracks with /play."]
        for offset, entry in enumerate(chunk, start=number * QUEUE_PAGE_SIZE + 1):
            lines.append(f"`{offset}.` {_link(entry.track, 60)} · {_length(entry.track)} · <@{entry.requester_id}>")
        embed = hikari.Embed(
            title=f"Queue · {len(upcoming)} upcoming", description="\n".join(lines), colour=BRAND_COLOUR
        )
        embed.add_field("Remaining", format_duration(player.remaining_ms / 1000), inline=True)
        embed.add_field("Loop", LOOP_LABELS[player.loop], inline=True)
        embed.add_field("Volume", f"{player.volume}%", inline=True)
        pages.append(embed)
    return pages


def notice_text(notice: Notice, music: MusicService) -> str:
    track = _link(notice.track) if notice.track is not None else "this track"
    if notice.kind == "track_failed":
        detail = f": {_escape(notice.detail)}" if notice.detail else ""
        if notice.dropped:
            return f"⚠️ {track} failed to play several times in a row{detail}. I removed it and moved on."
        return f"⚠️ Could not play {track}{detail}. Moving on to the next track."
    if notice.kind == "left_idle":
        return f"👋 Nothing was playing for {format_duration(music.options.idle_timeout)}, so I left the voice channel."
    if notice.kind == "left_alone":
        return "👋 Everyone left the voice channel, so I left too. The queue is cleared."
    if notice.kind == "disconnected":
        return "I was disconnected from the voice channel, so I stopped the music and cleared the queue."
    if notice.kind == "resumed":
        return f"▶️ Back after a restart: continuing {track} from {format_ms(notice.position_ms)}."
    return notice.kind


# lifecycle and voice events ----------------------------------------------------------------------------------------


@loader.listener(hikari.StartingEvent)
async def attach_music(event: hikari.StartingEvent, music: MusicService, backend: LavalinkBackend) -> None:
    bot = event.app
    if not isinstance(bot, hikari.GatewayBot):
        return
    backend.attach(bot)

    async def notify(guild_id: int, channel_id: int, notice: Notice) -> None:
        await bot.rest.create_message(channel_id, notice_text(notice, music), **NO_MENTIONS)

    music.attach(notify, CacheVoicePresence(bot))


@loader.listener(hikari.StartedEvent)
async def restore_music(event: hikari.StartedEvent, music: MusicService) -> None:
    bot = event.app
    if not isinstance(bot, hikari.GatewayBot):
        return

    def owns(guild_id: int) -> bool:  # with several processes, each restores the guilds of its own shards
        return (guild_id >> 22) % max(bot.shard_count, 1) in bot.shards

    music.begin_restore(owns)


@loader.listener(hikari.VoiceStateUpdateEvent)
async def on_voice_state(event: hikari.VoiceStateUpdateEvent, music: MusicService, backend: LavalinkBackend) -> None:
    if not music.enabled:
        return
    await backend.forward_voice_state(event)
    me = event.app.get_me() if isinstance(event.app, hikari.GatewayBot) else None
    if me is not None and event.state.user_id == me.id:
        channel = event.state.channel_id
        await music.bot_voice_moved(int(event.guild_id), int(channel) if channel is not None else None)
    else:
        await music.voice_changed(int(event.guild_id))


@loader.listener(hikari.VoiceServerUpdateEvent)
async def on_voice_server(event: hikari.VoiceServerUpdateEvent, music: MusicService, backend: LavalinkBackend) -> None:
    if music.enabled:
        await backend.forward_voice_server(event)


# /play --------------------------------------------------------------------------------------------------------------


async def suggest(ctx: lightbulb.AutocompleteContext[str], music: MusicService = lightbulb.di.INJECTED) -> None:
    text = str(ctx.focused.value or "")
    if text.lower().startswith("local:"):
        files = music.local_files(text[len("local:") :])
        await ctx.respond([(f"local:{name}"[:100], f"local:{name}"[:100]) for name in files if len(name) <= 94])
        return
    tracks = await music.search(text)
    choices: list[tuple[str, str]] = []
    for track in tracks:
        label = f"{track.title} — {track.author} ({_length(track)})"
        label = label if len(label) <= 100 else label[:99] + "…"
        value = track.uri if track.uri and len(track.uri) <= 100 else track.title[:100]
        choices.append((label, value))
    await ctx.respond(choices)


@loader.command
class Play(
    lightbulb.SlashCommand, name="play", description="Play a link, a search or a local file", contexts=GUILD_ONLY
):
    query = lightbulb.string("query", "A link, search words, or local:<file>", autocomplete=suggest, max_length=500)
    position = lightbulb.string(
        "position",
        "Where to add it in the queue (default: at the end)",
        choices=[lightbulb.Choice("next", "next"), lightbulb.Choice("end", "end")],
        default="end",
    )

    @lightbulb.invoke
    async def invoke(
        self, ctx: lightbulb.Context, music: MusicService, bot: hikari.GatewayBot, channels: ChannelDirectory
    ) -> None:
        music.require_enabled()
        guild_id = _guild_id(ctx)
        caller = _caller(bot, guild_id, ctx.member, int(ctx.user.id))
        if caller.voice_channel_id is None:
            raise InvalidInput("Join a voice channel first, then ask me to play.")
        joining = music.bot_channel(guild_id) is None
        if joining:
            await _check_bot_can_join(bot, channels, guild_id, caller.voice_channel_id)
        await ctx.defer()
        result = await music.play(guild_id, caller, int(ctx.channel_id), self.query, QueuePosition(self.position))
        text = _enqueued_text(result, caller.voice_channel_id if result.joined else None)
        await ctx.respond(embed=hikari.Embed(description=text, colour=BRAND_COLOUR), **NO_MENTIONS)


# playback controls --------------------------------------------------------------------------------------------------


def _setup(ctx: lightbulb.Context, music: MusicService, bot: hikari.GatewayBot) -> tuple[int, Caller]:
    music.require_enabled()
    guild_id = _guild_id(ctx)
    return guild_id, _caller(bot, guild_id, ctx.member, int(ctx.user.id))


@loader.command
class Pause(lightbulb.SlashCommand, name="pause", description="Pause the music", contexts=GUILD_ONLY):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, music: MusicService, bot: hikari.GatewayBot) -> None:
        guild_id, caller = _setup(ctx, music, bot)
        track = await music.pause(guild_id, caller)
        await ctx.respond(f"⏸️ Paused {_link(track)}. Use /resume to continue.", **NO_MENTIONS)


@loader.command
class Resume(lightbulb.SlashCommand, name="resume", description="Resume paused music", contexts=GUILD_ONLY):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, music: MusicService, bot: hikari.GatewayBot) -> None:
        guild_id, caller = _setup(ctx, music, bot)
        track = await music.resume(guild_id, caller)
        await ctx.respond(f"▶️ Resumed {_link(track)}.", **NO_MENTIONS)


@loader.command
class Skip(lightbulb.SlashCommand, name="skip", description="Skip the current track (or several)", contexts=GUILD_ONLY):
    count = lightbulb.integer("count", "How many tracks to skip (default 1)", min_value=1, max_value=1000, default=1)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, music: MusicService, bot: hikari.GatewayBot) -> None:
        guild_id, caller = _setup(ctx, music, bot)
        skipped = await music.skip(guild_id, caller, self.count)
        player = music.player(guild_id)
        head = f"⏭️ Skipped {_link(skipped[0])}" if len(skipped) == 1 else f"⏭️ Skipped {len(skipped)} tracks"
        if player is not None and player.current is not None:
            await ctx.respond(f"{head}. Now playing {_link(player.current.track)}.", **NO_MENTIONS)
        else:
            await ctx.respond(f"{head}. The queue is empty now.", **NO_MENTIONS)


@loader.command
class Stop(lightbulb.SlashCommand, name="stop", description="Stop the music and clear the queue", contexts=GUILD_ONLY):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, music: MusicService, bot: hikari.GatewayBot) -> None:
        guild_id, caller = _setup(ctx, music, bot)
        dropped = await music.stop(guild_id, caller)
        await ctx.respond(f"⏹️ Stopped and cleared the queue ({dropped} track{'s' if dropped != 1 else ''}).")


@loader.command
class Leave(lightbulb.SlashCommand, name="leave", description="Leave the voice channel", contexts=GUILD_ONLY):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, music: MusicService, bot: hikari.GatewayBot) -> None:
        guild_id, caller = _setup(ctx, music, bot)
        await music.leave(guild_id, caller)
        await ctx.respond("👋 Left the voice channel and cleared the queue.")


@loader.command
class Seek(lightbulb.SlashCommand, name="seek", description="Jump to a position in the track", contexts=GUILD_ONLY):
    position = lightbulb.string("position", "Where to jump: 90, 1:30 or 1:02:03", max_length=16)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, music: MusicService, bot: hikari.GatewayBot) -> None:
        guild_id, caller = _setup(ctx, music, bot)
        position_ms = parse_timestamp(self.position)
        track = await music.seek(guild_id, caller, position_ms)
        await ctx.respond(f"⏩ Jumped to {format_ms(position_ms)} in {_link(track)}.", **NO_MENTIONS)


@loader.command
class Volume(lightbulb.SlashCommand, name="volume", description="Set the volume (0-150)", contexts=GUILD_ONLY):
    level = lightbulb.integer("level", "0 to 150; 100 is normal", min_value=0, max_value=150)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, music: MusicService, bot: hikari.GatewayBot) -> None:
        guild_id, caller = _setup(ctx, music, bot)
        volume = await music.set_volume(guild_id, caller, self.level)
        await ctx.respond(f"🔊 Volume set to {volume}%.")


@loader.command
class Loop(
    lightbulb.SlashCommand, name="loop", description="Loop the track, the queue, or nothing", contexts=GUILD_ONLY
):
    mode = lightbulb.string(
        "mode",
        "What to repeat",
        choices=[lightbulb.Choice(label.lower(), mode.value) for mode, label in LOOP_LABELS.items()],
    )

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, music: MusicService, bot: hikari.GatewayBot) -> None:
        guild_id, caller = _setup(ctx, music, bot)
        mode = await music.set_loop(guild_id, caller, LoopMode(self.mode))
        await ctx.respond(f"🔁 Loop: {LOOP_LABELS[mode].lower()}.")


@loader.command
class Shuffle(lightbulb.SlashCommand, name="shuffle", description="Shuffle the upcoming tracks", contexts=GUILD_ONLY):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, music: MusicService, bot: hikari.GatewayBot) -> None:
        guild_id, caller = _setup(ctx, music, bot)
        count = await music.shuffle(guild_id, caller)
        await ctx.respond(f"🔀 Shuffled {count} upcoming tracks.")


@loader.command
class Remove(lightbulb.SlashCommand, name="remove", description="Remove a track from the queue", contexts=GUILD_ONLY):
    position = lightbulb.integer("position", "Its position in /queue", min_value=1)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, music: MusicService, bot: hikari.GatewayBot) -> None:
        guild_id, caller = _setup(ctx, music, bot)
        track = await music.remove(guild_id, caller, self.position)
        await ctx.respond(f"🗑️ Removed {_link(track)} from the queue.", **NO_MENTIONS)


@loader.command
class Move(
    lightbulb.SlashCommand, name="move", description="Move a track to another place in the queue", contexts=GUILD_ONLY
):
    source = lightbulb.integer("from", "Its position in /queue now", min_value=1)
    target = lightbulb.integer("to", "The position it should have", min_value=1)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, music: MusicService, bot: hikari.GatewayBot) -> None:
        guild_id, caller = _setup(ctx, music, bot)
        track = await music.move(guild_id, caller, self.source, self.target)
        await ctx.respond(f"↕️ Moved {_link(track)} to position {self.target}.", **NO_MENTIONS)


@loader.command
class Clear(lightbulb.SlashCommand, name="clear", description="Remove every upcoming track", contexts=GUILD_ONLY):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, music: MusicService, bot: hikari.GatewayBot) -> None:
        guild_id, caller = _setup(ctx, music, bot)
        count = await music.clear(guild_id, caller)
        await ctx.respond(f"🧹 Cleared {count} upcoming track{'s' if count != 1 else ''}.")


# /queue and /nowplaying ---------------------------------------------------------------------------------------------


def _require_player(music: MusicService, guild_id: int) -> GuildPlayer:
    player = music.player(guild_id)
    if player is None:
        raise InvalidInput("I am not playing anything here. Start with /play.")
    return player


@loader.command
class Queue(lightbulb.SlashCommand, name="queue", description="Show the queue", contexts=GUILD_ONLY):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, music: MusicService, miru_client: miru.Client) -> None:
        music.require_enabled()
        player = _require_player(music, _guild_id(ctx))
        pages = queue_pages(player)
        if len(pages) == 1:
            await ctx.respond(embed=pages[0], **NO_MENTIONS)
            return
        view = Paginator(pages, int(ctx.user.id))
        await ctx.respond(embed=view.current, components=view, **NO_MENTIONS)
        miru_client.start_view(view)


class NowPlayingView(miru.View):
    """Buttons under /nowplaying. The same rules as the commands: the clicker must be in the bot's channel."""

    def __init__(self, music: MusicService, bot: hikari.GatewayBot, guild_id: int) -> None:
        super().__init__(timeout=600)
        self.music = music
        self.bot = bot
        self.guild_id = guild_id

    def _caller(self, ctx: miru.ViewContext) -> Caller:
        return _caller(self.bot, self.guild_id, ctx.member, int(ctx.user.id))

    async def _run(self, ctx: miru.ViewContext, action: str) -> None:
        caller = self._caller(ctx)
        try:
            if action == "toggle":
                player = self.music.player(self.guild_id)
                if player is not None and player.paused:
                    await self.music.resume(self.guild_id, caller)
                else:
                    await self.music.pause(self.guild_id, caller)
            elif action == "skip":
                await self.music.skip(self.guild_id, caller)
            elif action == "stop":
                await self.music.stop(self.guild_id, caller)
            elif action == "loop":
                await self.music.cycle_loop(self.guild_id, caller)
            elif action == "shuffle":
                await self.music.shuffle(self.guild_id, caller)
        except DomainError as exc:
            await ctx.respond(exc.user_message, flags=hikari.MessageFlag.EPHEMERAL, **NO_MENTIONS)
            return
        player = self.music.player(self.guild_id)
        if player is None:
            self.stop()
            await ctx.edit_response(content="The music has stopped.", embeds=[], components=[])
            return
        await ctx.edit_response(embed=now_playing_embed(player), components=self, **NO_MENTIONS)

    @miru.button(label="Pause/Resume", emoji="⏯️", style=hikari.ButtonStyle.PRIMARY)
    async def toggle(self, ctx: miru.ViewContext, _: miru.Button) -> None:
        await self._run(ctx, "toggle")

    @miru.button(label="Skip", emoji="⏭️", style=hikari.ButtonStyle.SECONDARY)
    async def skip(self, ctx: miru.ViewContext, _: miru.Button) -> None:
        await self._run(ctx, "skip")

    @miru.button(label="Stop", emoji="⏹️", style=hikari.ButtonStyle.DANGER)
    async def stop_button(self, ctx: miru.ViewContext, _: miru.Button) -> None:
        await self._run(ctx, "stop")

    @miru.button(label="Loop", emoji="🔁", style=hikari.ButtonStyle.SECONDARY)
    async def loop(self, ctx: miru.ViewContext, _: miru.Button) -> None:
        await self._run(ctx, "loop")

    @miru.button(label="Shuffle", emoji="🔀", style=hikari.ButtonStyle.SECONDARY)
    async def shuffle(self, ctx: miru.ViewContext, _: miru.Button) -> None:
        await self._run(ctx, "shuffle")

    async def on_timeout(self) -> None:
        if self.message is not None:
            with contextlib.suppress(hikari.HTTPError):
                await self.message.edit(components=[])


@loader.command
class NowPlaying(
    lightbulb.SlashCommand, name="nowplaying", description="Show what is playing, with controls", contexts=GUILD_ONLY
):
    @lightbulb.invoke
    async def invoke(
        self, ctx: lightbulb.Context, music: MusicService, bot: hikari.GatewayBot, miru_client: miru.Client
    ) -> None:
        music.require_enabled()
        guild_id = _guild_id(ctx)
        player = _require_player(music, guild_id)
        view = NowPlayingView(music, bot, guild_id)
        await ctx.respond(embed=now_playing_embed(player), components=view, **NO_MENTIONS)
        miru_client.start_view(view)


# DJ role ------------------------------------------------------------------------------------------------------------


@loader.command
class DjRole(
    lightbulb.SlashCommand,
    name="djrole",
    description="Limit skip/stop/volume/clear to a DJ role (and moderators); leave empty to allow everyone",
    contexts=GUILD_ONLY,
    default_member_permissions=hikari.Permissions.MANAGE_GUILD,
):
    role = lightbulb.role("role", "The DJ role; leave empty to remove the limit", default=None)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, music: MusicService) -> None:
        music.require_enabled()
        guild_id = _guild_id(ctx)
        role_id = int(self.role.id) if self.role is not None else None
        await music.set_dj_role(guild_id, role_id)
        if role_id is None:
            await ctx.respond("Everyone in my voice channel can control the music now.", ephemeral=True)
        else:
            await ctx.respond(
                f"Only <@&{role_id}> and moderators can skip, stop, change the volume or clear the queue now.",
                ephemeral=True,
                **NO_MENTIONS,
            )
