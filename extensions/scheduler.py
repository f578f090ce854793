"""/announce and /event: recurring announcements, Discord guild scheduled events and their reminders.

The rules and the exactly-once runner live in `hanabi.services.scheduler`; this module parses options,
checks the bot's channel permissions from the hikari cache, renders embeds, and implements the service's
`AnnouncementSender` with hikari REST.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime

import hikari
import lightbulb
import miru

from hanabi.config import Settings
from hanabi.errors import InvalidInput, NotFound, PermissionDenied
from hanabi.infra.channels import ChannelDirectory
from hanabi.services.scheduler import (
    Announcement,
    Delivery,
    DeliveryFailed,
    EventPlan,
    PauseNotice,
    ReminderDelivery,
    SchedulerService,
)
from hanabi.ui import BRAND_COLOUR, discord_timestamp
from hanabi.ui.pagination import Paginator
from hanabi.ui.permissions import effective_permissions, permission_labels

log = logging.getLogger(__name__)

loader = lightbulb.Loader()

TEXT_CHANNELS = [hikari.ChannelType.GUILD_TEXT, hikari.ChannelType.GUILD_NEWS]
EVENT_CHANNELS = [hikari.ChannelType.GUILD_VOICE, hikari.ChannelType.GUILD_STAGE]
PER_PAGE = 8
_ROLE_REF = re.compile(r"<@&(\d+)>|\b(\d{15,21})\b")


# permissions from the cache ---------------------------------------------------------------------------------------


def _permission_names(permissions: hikari.Permissions) -> str:
    return ", ".join(permission_labels(permissions))


async def bot_permissions_in(
    bot: hikari.GatewayBot, channels: ChannelDirectory, guild_id: int, channel_id: int
) -> hikari.Permissions | None:
    """The bot's permissions in a channel per Discord's algorithm; None when the guild or channel is unknown."""
    me = bot.get_me()
    if me is None or bot.cache.get_guild(guild_id) is None:
        return None
    member = bot.cache.get_member(guild_id, me.id)
    channel = await channels.permission_channel(channel_id)
    if member is None or channel is None:
        return None
    return effective_permissions(bot.cache, guild_id, me.id, member.role_ids, channel)


async def _require_postable(
    scheduler: SchedulerService, bot: hikari.GatewayBot, channels: ChannelDirectory, guild_id: int, announcement_id: int
) -> Announcement:
    """The announcement, once the bot may post it where it goes (raises with what is missing otherwise)."""
    current = await scheduler.get(guild_id, announcement_id)
    await require_post_permissions(bot, channels, guild_id, current.row.channel_id, embed=current.row.title is not None)
    return current


def needed_to_post(*, embed: bool) -> hikari.Permissions:
    needed = hikari.Permissions.VIEW_CHANNEL | hikari.Permissions.SEND_MESSAGES
    return needed | hikari.Permissions.EMBED_LINKS if embed else needed


async def missing_to_post(
    bot: hikari.GatewayBot, channels: ChannelDirectory, guild_id: int, channel_id: int, *, embed: bool
) -> hikari.Permissions:
    have = await bot_permissions_in(bot, channels, guild_id, channel_id)
    if have is None:
        return hikari.Permissions.NONE  # unknown: let Discord decide when we send
    return needed_to_post(embed=embed) & ~have


async def require_post_permissions(
    bot: hikari.GatewayBot, channels: ChannelDirectory, guild_id: int, channel_id: int, *, embed: bool
) -> None:
    if await channels.get(channel_id) is None and bot.cache.get_guild(guild_id) is not None:
        raise NotFound(f"I cannot see <#{channel_id}>; it may have been deleted.")
    missing = await missing_to_post(bot, channels, guild_id, channel_id, embed=embed)
    if missing:
        raise PermissionDenied(
            f"I am missing the **{_permission_names(missing)}** permission in <#{channel_id}>. "
            "Give it to me there (channel settings -> Permissions), then try again."
        )


# the AnnouncementSender -------------------------------------------------------------------------------------------


class HikariSender:
    """Delivers announcements and reminders with hikari REST; maps Discord errors to DeliveryFailed."""

    def __init__(self, bot: hikari.GatewayBot, channels: ChannelDirectory) -> None:
        self._bot = bot
        self._channels = channels

    async def send_announcement(self, delivery: Delivery) -> int:
        embed = delivery.title is not None
        missing = await missing_to_post(self._bot, self._channels, delivery.guild_id, delivery.channel_id, embed=embed)
        if missing:
            raise DeliveryFailed("missing_permissions", _permission_names(missing))
        roles: Sequence[int] | bool = list(delivery.allowed_role_ids) or False
        content: str | None = delivery.message
        body: hikari.Embed | None = None
        if embed:
            body = hikari.Embed(title=delivery.title, description=delivery.message, colour=BRAND_COLOUR)
            # Mentions inside an embed never ping; put the allowed roles the message names in the content.
            pinged = [r for r in delivery.allowed_role_ids if f"<@&{r}>" in delivery.message]
            content = " ".join(f"<@&{r}>" for r in pinged) or None
        message = await self._post(
            delivery.channel_id,
            content,
            embed=body,
            role_mentions=roles,
            user_mentions=False,
            mentions_everyone=False,
        )
        return int(message.id)

    async def send_reminder(self, reminder: ReminderDelivery) -> int:
        start = reminder.event_start
        name = reminder.event_name
        try:
            event = await self._bot.rest.fetch_scheduled_event(reminder.guild_id, reminder.event_id)
        except hikari.NotFoundError:
            raise DeliveryFailed("event_gone", "the event was deleted") from None
        except hikari.HTTPError as error:
            raise DeliveryFailed("transient", str(error)) from None
        if event.status in (hikari.ScheduledEventStatus.CANCELED, hikari.ScheduledEventStatus.COMPLETED):
            raise DeliveryFailed("event_gone", f"the event is {event.status.name.lower()}")
        start, name = event.start_time, event.name
        link = f"https://discord.com/events/{reminder.guild_id}/{reminder.event_id}"
        content = f"⏰ **{name}** starts {discord_timestamp(start, 'R')} ({discord_timestamp(start, 't')}).\n{link}"
        message = await self._post(
            reminder.channel_id, content, user_mentions=False, role_mentions=False, mentions_everyone=False
        )
        return int(message.id)

    async def notify_paused(self, notice: PauseNotice) -> None:
        why = (
            "the channel was deleted"
            if notice.reason == "channel_gone"
            else f"I lost the **{notice.detail}** permission there"
        )
        embed = hikari.Embed(
            title=f"Announcement #{notice.announcement_id} paused",
            description=(
                f"I could not post it in <#{notice.channel_id}>: {why}. "
                f"Fix that, then run `/announce resume {notice.announcement_id}` (or delete it)."
            ),
            colour=0xE0A030,
        )
        await self._post(
            notice.modlog_channel_id,
            None,
            embed=embed,
            user_mentions=False,
            role_mentions=False,
            mentions_everyone=False,
        )

    async def _post(
        self,
        channel_id: int,
        content: str | None,
        *,
        embed: hikari.Embed | None = None,
        role_mentions: Sequence[int] | bool,
        user_mentions: bool,
        mentions_everyone: bool,
    ) -> hikari.Message:
        try:
            return await self._bot.rest.create_message(
                channel_id,
                content if content is not None else hikari.UNDEFINED,
                embed=embed if embed is not None else hikari.UNDEFINED,
                role_mentions=role_mentions,
                user_mentions=user_mentions,
                mentions_everyone=mentions_everyone,
            )
        except hikari.NotFoundError:
            raise DeliveryFailed("channel_gone", "the channel no longer exists") from None
        except hikari.ForbiddenError:
            raise DeliveryFailed("missing_permissions", "View Channel or Send Messages") from None
        except (hikari.HTTPError, hikari.ComponentStateConflictError) as error:
            raise DeliveryFailed("transient", str(error)) from None


# runner lifecycle -------------------------------------------------------------------------------------------------


@loader.listener(hikari.StartedEvent)
async def start_runner(
    _: hikari.StartedEvent,
    bot: hikari.GatewayBot,
    scheduler: SchedulerService,
    settings: Settings,
    channels: ChannelDirectory,
) -> None:
    if settings.scheduler_enabled:
        scheduler.start(HikariSender(bot, channels))


@loader.listener(hikari.StoppingEvent)
async def stop_runner(_: hikari.StoppingEvent, scheduler: SchedulerService) -> None:
    # hikari awaits StoppingEvent listeners before it closes REST, so no send is cut off half way.
    await scheduler.stop()


# helpers ----------------------------------------------------------------------------------------------------------


def _guild_id(ctx: lightbulb.Context) -> int:
    if ctx.guild_id is None:
        raise InvalidInput("This command works in a server only.")
    return int(ctx.guild_id)


def parse_role_ids(bot: hikari.GatewayBot, guild_id: int, text: str | None) -> tuple[int, ...]:
    """Role mentions or ids from the `allow_mentions` option, each checked to be a role of this server."""
    if not text or not text.strip():
        return ()
    if "@everyone" in text or "@here" in text:
        raise InvalidInput("Announcements never ping @everyone or @here; name roles in `allow_mentions` instead.")
    ids = [int(a or b) for a, b in _ROLE_REF.findall(text)]
    if not ids:
        raise InvalidInput("`allow_mentions` takes role mentions such as `@Events @News` (or role ids).")
    guild = bot.cache.get_guild(guild_id)
    for role_id in ids:
        if role_id == guild_id or (guild is not None and guild.get_role(role_id) is None):
            raise InvalidInput(f"`{role_id}` is not a role of this server.")
    return tuple(dict.fromkeys(ids))


def _runs(moments: Sequence[datetime]) -> str:
    return "\n".join(f"{discord_timestamp(m, 'F')} ({discord_timestamp(m, 'R')})" for m in moments) or "—"


def _line(announcement: Announcement, scheduler: SchedulerService) -> str:
    row = announcement.row
    if row.paused:
        state = f"⏸️ paused ({row.pause_reason})" if row.pause_reason else "⏸️ paused"
    else:
        upcoming = scheduler.upcoming(announcement, 1)
        state = f"next {discord_timestamp(upcoming[0], 'R')}" if upcoming else "—"
    title = f" — {row.title}" if row.title else ""
    return f"**#{row.id}** in <#{row.channel_id}>{title}\n{announcement.schedule.describe()} · {state}"


# /announce ----------------------------------------------------------------------------------------------------------

announce = lightbulb.Group(
    "announce",
    "Recurring announcements",
    default_member_permissions=hikari.Permissions.MANAGE_GUILD,
    contexts=[hikari.ApplicationContextType.GUILD],
)


@announce.register
class AnnounceCreate(lightbulb.SlashCommand, name="create", description="Post a message on a schedule"):
    channel = lightbulb.channel("channel", "Where to post", channel_types=TEXT_CHANNELS)
    message = lightbulb.string("message", "What to post", max_length=4000)
    schedule = lightbulb.string("schedule", "`every 30m`, `every 1d` or cron like `0 9 * * MON-FRI`", max_length=100)
    title = lightbulb.string("title", "Title: post as an embed", default=None, max_length=256)
    timezone = lightbulb.string("timezone", "IANA zone, e.g. Europe/Berlin (default: server's)", default=None)
    starts = lightbulb.string("starts", "First run, e.g. `tomorrow 09:00` or `in 2h`", default=None)
    allow_mentions = lightbulb.string("allow_mentions", "Roles the message may ping, e.g. @Events", default=None)

    @lightbulb.invoke
    async def invoke(
        self, ctx: lightbulb.Context, scheduler: SchedulerService, bot: hikari.GatewayBot, channels: ChannelDirectory
    ) -> None:
        guild_id = _guild_id(ctx)
        channel_id = int(self.channel.id)
        await require_post_permissions(bot, channels, guild_id, channel_id, embed=self.title is not None)
        roles = parse_role_ids(bot, guild_id, self.allow_mentions)
        created = await scheduler.create(
            guild_id=guild_id,
            channel_id=channel_id,
            creator_id=int(ctx.user.id),
            message=self.message,
            schedule=self.schedule,
            title=self.title,
            timezone=self.timezone,
            starts=self.starts,
            allowed_role_ids=roles,
        )
        row = created.announcement.row
        embed = hikari.Embed(title=f"Announcement #{row.id} scheduled", colour=BRAND_COLOUR)
        embed.add_field("Channel", f"<#{row.channel_id}>", inline=True)
        embed.add_field("Schedule", created.announcement.schedule.describe(), inline=True)
        if roles:
            embed.add_field("May ping", " ".join(f"<@&{r}>" for r in roles), inline=True)
        embed.add_field("Next runs", _runs(created.upcoming), inline=False)
        await ctx.respond(embed=embed, user_mentions=False, role_mentions=False, mentions_everyone=False)


@announce.register
class AnnounceList(lightbulb.SlashCommand, name="list", description="This server's announcements"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, scheduler: SchedulerService, miru_client: miru.Client) -> None:
        announcements = await scheduler.list_for_guild(_guild_id(ctx))
        if not announcements:
            await ctx.respond("No announcements yet. Create one with `/announce create`.", ephemeral=True)
            return
        lines = [_line(a, scheduler) for a in announcements]
        pages = [
            hikari.Embed(title="Announcements", description="\n\n".join(lines[i : i + PER_PAGE]), colour=BRAND_COLOUR)
            for i in range(0, len(lines), PER_PAGE)
        ]
        paginator = Paginator(pages, int(ctx.user.id))
        if not paginator.needed:
            await ctx.respond(
                embed=paginator.current, user_mentions=False, role_mentions=False, mentions_everyone=False
            )
            return
        await ctx.respond(
            embed=paginator.current,
            components=paginator,
            user_mentions=False,
            role_mentions=False,
            mentions_everyone=False,
        )
        miru_client.start_view(paginator)


@announce.register
class AnnouncePause(lightbulb.SlashCommand, name="pause", description="Stop posting until resumed"):
    id = lightbulb.integer("id", "Announcement number (see /announce list)", min_value=1)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, scheduler: SchedulerService) -> None:
        announcement = await scheduler.pause(_guild_id(ctx), self.id)
        await ctx.respond(f"Paused announcement #{announcement.id}. `/announce resume {announcement.id}` restarts it.")


@announce.register
class AnnounceResume(lightbulb.SlashCommand, name="resume", description="Start posting again, from now on"):
    id = lightbulb.integer("id", "Announcement number (see /announce list)", min_value=1)

    @lightbulb.invoke
    async def invoke(
        self, ctx: lightbulb.Context, scheduler: SchedulerService, bot: hikari.GatewayBot, channels: ChannelDirectory
    ) -> None:
        guild_id = _guild_id(ctx)
        await _require_postable(scheduler, bot, channels, guild_id, self.id)
        announcement = await scheduler.resume(guild_id, self.id)
        upcoming = scheduler.upcoming(announcement, 1)
        when = f" Next run {discord_timestamp(upcoming[0], 'R')}." if upcoming else ""
        await ctx.respond(f"Resumed announcement #{announcement.id} in <#{announcement.row.channel_id}>.{when}")


@announce.register
class AnnounceDelete(lightbulb.SlashCommand, name="delete", description="Delete an announcement"):
    id = lightbulb.integer("id", "Announcement number (see /announce list)", min_value=1)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, scheduler: SchedulerService) -> None:
        await scheduler.delete(_guild_id(ctx), self.id)
        await ctx.respond(f"Deleted announcement #{self.id}.")


@announce.register
class AnnounceTest(lightbulb.SlashCommand, name="test", description="Post an announcement once, now"):
    id = lightbulb.integer("id", "Announcement number (see /announce list)", min_value=1)

    @lightbulb.invoke
    async def invoke(
        self, ctx: lightbulb.Context, scheduler: SchedulerService, bot: hikari.GatewayBot, channels: ChannelDirectory
    ) -> None:
        guild_id = _guild_id(ctx)
        current = await _require_postable(scheduler, bot, channels, guild_id, self.id)
        await scheduler.send_test(guild_id, self.id, HikariSender(bot, channels))
        await ctx.respond(f"Posted announcement #{self.id} in <#{current.row.channel_id}>.", ephemeral=True)


loader.command(announce)


# /event -------------------------------------------------------------------------------------------------------------

event_group = lightbulb.Group(
    "event",
    "Discord scheduled events",
    default_member_permissions=hikari.Permissions.MANAGE_EVENTS,
    contexts=[hikari.ApplicationContextType.GUILD],
)
_OPEN = (hikari.ScheduledEventStatus.SCHEDULED, hikari.ScheduledEventStatus.ACTIVE)


def _event_link(event: hikari.ScheduledEvent) -> str:
    return f"https://discord.com/events/{event.guild_id}/{event.id}"


async def _find_event(bot: hikari.GatewayBot, guild_id: int, text: str) -> hikari.ScheduledEvent:
    """An open event by id, link or (case-insensitive) name."""
    events = [e for e in await bot.rest.fetch_scheduled_events(guild_id) if e.status in _OPEN]
    wanted = text.strip().rstrip("/").rsplit("/", 1)[-1]
    for event in events:
        if str(event.id) == wanted:
            return event
    named = [e for e in events if e.name.casefold() == text.strip().casefold()]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise InvalidInput(f"Several events are called `{text}`; give the event's id (see `/event list`).")
    raise NotFound(f"No upcoming event matches `{text}`. `/event list` shows them with their ids.")


async def _create_event(
    bot: hikari.GatewayBot, channels: ChannelDirectory, guild_id: int, plan: EventPlan
) -> hikari.ScheduledEvent:
    description = plan.description if plan.description is not None else hikari.UNDEFINED
    end = plan.end if plan.end is not None else hikari.UNDEFINED
    try:
        if plan.channel_id is None:
            if plan.location is None or plan.end is None:
                raise InvalidInput("External events need a location and an end.")
            return await bot.rest.create_external_event(
                guild_id, plan.name, plan.location, plan.start, plan.end, description=description
            )
        channel = await channels.get(plan.channel_id)
        if channel is not None and channel.type == hikari.ChannelType.GUILD_STAGE:
            return await bot.rest.create_stage_event(
                guild_id, plan.channel_id, plan.name, plan.start, description=description, end_time=end
            )
        return await bot.rest.create_voice_event(
            guild_id, plan.channel_id, plan.name, plan.start, description=description, end_time=end
        )
    except hikari.ForbiddenError:
        raise PermissionDenied("I need the **Manage Events** permission to create events.") from None
    except hikari.BadRequestError as error:
        raise InvalidInput(f"Discord refused the event: {error.message}") from None


@event_group.register
class EventCreate(lightbulb.SlashCommand, name="create", description="Create a Discord scheduled event"):
    name = lightbulb.string("name", "Event name", max_length=100)
    start = lightbulb.string("start", "`2026-12-24 18:00`, `tomorrow 18:00` or `in 2h` (server time)")
    end = lightbulb.string("end", "When it ends (required without a channel)", default=None)
    channel = lightbulb.channel("channel", "Voice or stage channel", channel_types=EVENT_CHANNELS, default=None)
    location = lightbulb.string("location", "Where, for an event outside Discord", default=None, max_length=100)
    description = lightbulb.string("description", "What it is about", default=None, max_length=1000)

    @lightbulb.invoke
    async def invoke(
        self, ctx: lightbulb.Context, scheduler: SchedulerService, bot: hikari.GatewayBot, channels: ChannelDirectory
    ) -> None:
        guild_id = _guild_id(ctx)
        plan = await scheduler.plan_event(
            guild_id=guild_id,
            name=self.name,
            start=self.start,
            end=self.end,
            channel_id=int(self.channel.id) if self.channel is not None else None,
            location=self.location,
            description=self.description,
        )
        event = await _create_event(bot, channels, guild_id, plan)
        embed = hikari.Embed(title=event.name, url=_event_link(event), colour=BRAND_COLOUR)
        embed.add_field("Starts", discord_timestamp(plan.start, "F"), inline=True)
        if plan.end is not None:
            embed.add_field("Ends", discord_timestamp(plan.end, "F"), inline=True)
        embed.add_field("Where", f"<#{plan.channel_id}>" if plan.channel_id else (plan.location or "—"), inline=True)
        embed.set_footer(f"Event id {event.id} · /event remind adds a reminder")
        await ctx.respond(
            f"Created the event **{event.name}**.",
            embed=embed,
            user_mentions=False,
            role_mentions=False,
            mentions_everyone=False,
        )


@event_group.register
class EventList(lightbulb.SlashCommand, name="list", description="Upcoming scheduled events"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, bot: hikari.GatewayBot) -> None:
        guild_id = _guild_id(ctx)
        events = sorted(
            (e for e in await bot.rest.fetch_scheduled_events(guild_id) if e.status in _OPEN),
            key=lambda e: e.start_time,
        )
        if not events:
            await ctx.respond("No upcoming events. Create one with `/event create`.", ephemeral=True)
            return
        lines = []
        for event in events[:20]:
            live = " · 🔴 live" if event.status == hikari.ScheduledEventStatus.ACTIVE else ""
            interested = event.user_count if event.user_count is not None else 0
            lines.append(
                f"**[{event.name}]({_event_link(event)})** — {discord_timestamp(event.start_time, 'F')} "
                f"({discord_timestamp(event.start_time, 'R')}) · {interested} interested{live}\nid `{event.id}`"
            )
        embed = hikari.Embed(title="Upcoming events", description="\n\n".join(lines), colour=BRAND_COLOUR)
        await ctx.respond(embed=embed, user_mentions=False, role_mentions=False, mentions_everyone=False)


@event_group.register
class EventCancel(lightbulb.SlashCommand, name="cancel", description="Cancel a scheduled event"):
    event = lightbulb.string("event", "Event id, link or name (see /event list)")

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, scheduler: SchedulerService, bot: hikari.GatewayBot) -> None:
        guild_id = _guild_id(ctx)
        event = await _find_event(bot, guild_id, self.event)
        status = (
            hikari.ScheduledEventStatus.COMPLETED
            if event.status == hikari.ScheduledEventStatus.ACTIVE
            else hikari.ScheduledEventStatus.CANCELED
        )
        try:
            await bot.rest.edit_scheduled_event(guild_id, event.id, status=status)
        except hikari.ForbiddenError:
            raise PermissionDenied("I need the **Manage Events** permission to cancel events.") from None
        dropped = await scheduler.cancel_reminders(guild_id, int(event.id))
        extra = f" and dropped {dropped} reminder{'s' if dropped != 1 else ''}" if dropped else ""
        await ctx.respond(
            f"Cancelled **{event.name}**{extra}.", user_mentions=False, role_mentions=False, mentions_everyone=False
        )


@event_group.register
class EventRemind(lightbulb.SlashCommand, name="remind", description="Post a reminder before an event starts"):
    event = lightbulb.string("event", "Event id, link or name (see /event list)")
    minutes = lightbulb.integer("minutes", "How many minutes before the start", min_value=1, max_value=10080)
    channel = lightbulb.channel("channel", "Where to post the reminder", channel_types=TEXT_CHANNELS)

    @lightbulb.invoke
    async def invoke(
        self, ctx: lightbulb.Context, scheduler: SchedulerService, bot: hikari.GatewayBot, channels: ChannelDirectory
    ) -> None:
        guild_id = _guild_id(ctx)
        channel_id = int(self.channel.id)
        event = await _find_event(bot, guild_id, self.event)
        await require_post_permissions(bot, channels, guild_id, channel_id, embed=False)
        reminder = await scheduler.add_reminder(
            guild_id=guild_id,
            event_id=int(event.id),
            event_name=event.name,
            event_start=event.start_time,
            channel_id=channel_id,
            creator_id=int(ctx.user.id),
            minutes_before=self.minutes,
        )
        await ctx.respond(
            f"I will remind <#{channel_id}> about **{event.name}** {self.minutes} minutes before it starts "
            f"({discord_timestamp(reminder.row.remind_at, 'F')}).",
            user_mentions=False,
            role_mentions=False,
            mentions_everyone=False,
        )


loader.command(event_group)
