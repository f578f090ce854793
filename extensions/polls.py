"""/poll create|close|results|export|list, and the poll message's buttons and select menu.

Routing: every poll component carries a stable custom id `poll:<poll id>:vote:<option>`, `poll:<poll id>:select`
or `poll:<poll id>:end`, and ONE route of the interaction router (hanabi.ui.router) answers every `poll:` id of
every poll. So nothing has to be bound per poll or per message: memory does not grow with open polls, a click costs
a dict lookup plus one database round trip, and after a restart the same ids keep working without
rebuilding anything. What must be rebuilt at startup is only the deadline runner (started on StartedEvent; its
first look closes polls whose deadline passed while the bot was down). A per-poll miru View would need one
object per open poll, kept in memory and re-created at every start, for the same routing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import hikari
import lightbulb
import miru

from hanabi.errors import InvalidInput
from hanabi.services.polls import Poll, PollNotFound, PollResults, PollService
from hanabi.ui import BRAND_COLOUR, discord_timestamp
from hanabi.ui.interactions import NO_MENTIONS, Responder
from hanabi.ui.pagination import Paginator
from hanabi.wiring import component_route

log = logging.getLogger(__name__)

loader = lightbulb.Loader()

FEATURE = "poll"
PREFIX = f"{FEATURE}:"
MAX_BUTTONS = 5
BAR_WIDTH = 12
CLOSED_COLOUR = 0x747F8D
VOTERS_PER_PAGE = 40
POLLS_PER_PAGE = 10

# rendering -------------------------------------------------------------------------------------------------------


def escape_markdown(text: str) -> str:
    for char in "\\*_~`|>[]":
        text = text.replace(char, "\\" + char)
    return text


def text_bar(percentage: float) -> str:
    filled = round(max(0.0, min(100.0, percentage)) / 100 * BAR_WIDTH)
    return "█" * filled + "░" * (BAR_WIDTH - filled)


def poll_embed(poll: Poll) -> hikari.Embed:
    winners = {o.position for o in poll.winners} if not poll.is_open else set()
    lines = []
    for option in poll.options:
        share = poll.percentage(option)
        marker = "🏆 " if option.position in winners else ""
        votes = "1 vote" if option.votes == 1 else f"{option.votes} votes"
        lines.append(
            f"{marker}**{option.position + 1}. {escape_markdown(option.label)}**\n"
            f"`{text_bar(share)}` {votes} · {share:.0f}%"
        )
    title = f"📊 {poll.question}" if poll.is_open else f"📊 {poll.question} (closed)"
    embed = hikari.Embed(
        title=title[:256],
        description="\n".join(lines),
        colour=BRAND_COLOUR if poll.is_open else CLOSED_COLOUR,
    )
    embed.add_field("Voters", str(poll.voters), inline=True)
    embed.add_field("Created by", f"<@{poll.creator_id}>", inline=True)
    if poll.closed_at is not None:
        embed.add_field("Closed", discord_timestamp(poll.closed_at), inline=True)
        if winners:
            names = ", ".join(f"**{escape_markdown(o.label)}**" for o in poll.winners)
            embed.add_field("Winner" if len(winners) == 1 else "Tie", names, inline=False)
        else:
            embed.add_field("Winner", "No votes were cast.", inline=False)
    elif poll.closes_at is not None:
        embed.add_field(
            "Closes", f"{discord_timestamp(poll.closes_at)} ({discord_timestamp(poll.closes_at, 'R')})", inline=True
        )
    else:
        embed.add_field("Closes", "When its creator or a moderator ends it", inline=True)
    if poll.role_id is not None:
        embed.add_field("Who can vote", f"<@&{poll.role_id}>", inline=True)
    flags = ["Several choices allowed" if poll.multiple else "One choice per voter"]
    if poll.anonymous:
        flags.append("anonymous")
    flags.append(f"poll #{poll.id}")
    embed.set_footer(" · ".join(flags))
    return embed


def poll_components(poll: Poll) -> list[hikari.api.ComponentBuilder]:
    closed = not poll.is_open
    choices = hikari.impl.MessageActionRowBuilder()
    if len(poll.options) <= MAX_BUTTONS:
        for option in poll.options:
            choices.add_interactive_button(
                hikari.ButtonStyle.PRIMARY,
                f"{PREFIX}{poll.id}:vote:{option.position}",
                label=option.label[:80],
                is_disabled=closed,
            )
    else:
        menu = choices.add_text_menu(
            f"{PREFIX}{poll.id}:select",
            placeholder="Choose your options" if poll.multiple else "Choose an option",
            min_values=0 if poll.multiple else 1,
            max_values=len(poll.options) if poll.multiple else 1,
            is_disabled=closed,
        )
        for option in poll.options:
            menu.add_option(f"{option.position + 1}. {option.label}"[:100], str(option.position))
    end = hikari.impl.MessageActionRowBuilder()
    end.add_interactive_button(
        hikari.ButtonStyle.DANGER, f"{PREFIX}{poll.id}:end", label="End poll", is_disabled=closed
    )
    return [choices, end]


def message_link(poll: Poll) -> str | None:
    if poll.message_id is None:
        return None
    return f"https://discord.com/channels/{poll.guild_id}/{poll.channel_id}/{poll.message_id}"


def results_pages(results: PollResults) -> list[hikari.Embed]:
    poll = results.poll
    summary = poll_embed(poll)
    if results.voters_by_option is None:
        summary.add_field("Voters", "This poll is anonymous: nobody can see who voted for what.", inline=False)
        return [summary]
    pages = [summary]
    chunks: list[tuple[str, list[int]]] = []
    for option in poll.options:
        voters = results.voters_by_option.get(option.position, [])
        for start in range(0, max(len(voters), 1), VOTERS_PER_PAGE):
            chunks.append((option.label, voters[start : start + VOTERS_PER_PAGE]))
    for label, voters in chunks:
        page = hikari.Embed(
            title=f"Who voted for {label}"[:256],
            description=" ".join(f"<@{user_id}>" for user_id in voters) or "Nobody yet.",
            colour=BRAND_COLOUR,
        )
        pages.append(page)
    return pages


def vote_confirmation(removed: bool, chosen: Sequence[str]) -> str:
    names = ", ".join(f"**{escape_markdown(label)}**" for label in chosen)
    if not chosen:
        return "Your vote was removed." if removed else "You have no vote in this poll."
    if removed:
        return f"Removed that choice. Your votes now: {names}."
    if len(chosen) == 1:
        return f"You voted for {names}."
    return f"Your votes: {names}."


# helpers ---------------------------------------------------------------------------------------------------------


def can_manage_messages(member: hikari.InteractionMember | None) -> bool:
    if member is None:
        return False
    return bool(member.permissions & (hikari.Permissions.MANAGE_MESSAGES | hikari.Permissions.ADMINISTRATOR))


def parse_poll_id(value: str) -> int:
    text = value.strip().lstrip("#")
    if not text.isdigit():
        raise PollNotFound("I can't find that poll in this server. Pick one from the list as you type.")
    return int(text)


def require_guild(guild_id: int | None) -> int:
    if guild_id is None:
        raise InvalidInput("Polls live in servers; use this command in a server channel.")
    return guild_id


async def complete_poll(ctx: lightbulb.AutocompleteContext[str], polls: PollService = lightbulb.di.INJECTED) -> None:
    guild_id = ctx.interaction.guild_id
    if guild_id is None:
        await ctx.respond([])
        return
    rows = await polls.search(guild_id, str(ctx.focused.value or ""))
    choices = []
    for row in rows:
        state = "" if row.closed_at is None else " (closed)"
        choices.append((f"#{row.id} {row.question}"[: 100 - len(state)] + state, str(row.id)))
    await ctx.respond(choices)


async def send_pages(ctx: lightbulb.Context, pages: list[hikari.Embed], miru_client: miru.Client) -> None:
    if len(pages) == 1:
        await ctx.respond(embed=pages[0], ephemeral=True, **NO_MENTIONS)
        return
    view = Paginator(pages, ctx.user.id)
    await ctx.respond(embed=view.current, components=view, ephemeral=True, **NO_MENTIONS)
    miru_client.start_view(view)


def refresher(rest: hikari.api.RESTClient, polls: PollService) -> Callable[[int], Awaitable[None]]:
    """The live-update action: render the poll's current state onto its public message."""

    async def refresh(poll_id: int) -> None:
        try:
            poll = await polls.get(poll_id)
        except PollNotFound:
            return
        if poll.message_id is None:
            return
        try:
            await rest.edit_message(
                poll.channel_id,
                poll.message_id,
                embed=poll_embed(poll),
                components=poll_components(poll),
                **NO_MENTIONS,
            )
        except hikari.NotFoundError:
            # The message or its channel is gone: close quietly, there is nothing left to show.
            log.info("poll %s: message %s is gone; closing the poll quietly", poll.id, poll.message_id)
            await polls.close_quietly(poll.id)
        except hikari.ForbiddenError as error:
            log.warning("poll %s: cannot edit message %s: %s", poll.id, poll.message_id, error)

    return refresh


# commands --------------------------------------------------------------------------------------------------------

poll_group = lightbulb.Group(
    "poll", "Create polls with buttons, see results, export them", contexts=[hikari.ApplicationContextType.GUILD]
)


@poll_group.register
class Create(lightbulb.SlashCommand, name="create", description="Start a poll; options separated by |"):
    question = lightbulb.string("question", "What to ask", max_length=200)
    options = lightbulb.string("options", "2 to 25 choices separated by |, for example: Pizza | Pasta | Salad")
    duration = lightbulb.string(
        "duration", "How long it stays open: 30m, 2h, 1d, 1d12h (default: until ended)", default=None
    )
    multiple = lightbulb.boolean("multiple", "Let voters choose several options", default=False)
    anonymous = lightbulb.boolean("anonymous", "Hide who voted for what from everyone", default=False)
    role = lightbulb.role("role", "Only members with this role can vote", default=None)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, polls: PollService) -> None:
        guild_id = require_guild(ctx.guild_id)
        role_id = int(self.role.id) if self.role is not None and int(self.role.id) != guild_id else None
        poll = await polls.create(
            guild_id=guild_id,
            channel_id=int(ctx.channel_id),
            creator_id=int(ctx.user.id),
            question=self.question,
            options=self.options,
            duration=self.duration,
            multiple=self.multiple,
            anonymous=self.anonymous,
            role_id=role_id,
        )
        response = await ctx.respond(embed=poll_embed(poll), components=poll_components(poll), **NO_MENTIONS)
        message = await ctx.fetch_response(response)
        await polls.attach_message(poll.id, int(message.id))


@poll_group.register
class Close(lightbulb.SlashCommand, name="close", description="End a poll now (its creator or Manage Messages)"):
    poll = lightbulb.string("poll", "The poll to end", autocomplete=complete_poll)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, polls: PollService) -> None:
        guild_id = require_guild(ctx.guild_id)
        closed = await polls.close(
            parse_poll_id(self.poll),
            user_id=int(ctx.user.id),
            can_manage=can_manage_messages(ctx.member),
            guild_id=guild_id,
        )
        await ctx.respond(embed=poll_embed(closed), ephemeral=True, **NO_MENTIONS)


@poll_group.register
class Results(lightbulb.SlashCommand, name="results", description="A poll's results and, unless anonymous, who voted"):
    poll = lightbulb.string("poll", "The poll to show", autocomplete=complete_poll)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, polls: PollService, miru_client: miru.Client) -> None:
        results = await polls.results(parse_poll_id(self.poll), require_guild(ctx.guild_id))
        await send_pages(ctx, results_pages(results), miru_client)


@poll_group.register
class Export(lightbulb.SlashCommand, name="export", description="A poll's results as a CSV file"):
    poll = lightbulb.string("poll", "The poll to export", autocomplete=complete_poll)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, polls: PollService) -> None:
        poll, text = await polls.export_csv(parse_poll_id(self.poll), require_guild(ctx.guild_id))
        note = " (anonymous: counts only)" if poll.anonymous else ""
        await ctx.respond(
            f"Results of poll #{poll.id}{note}.",
            attachment=hikari.Bytes(text.encode(), f"poll-{poll.id}.csv", mimetype="text/csv"),
            ephemeral=True,
            **NO_MENTIONS,
        )


@poll_group.register
class List(lightbulb.SlashCommand, name="list", description="Open polls in this server, with links"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, polls: PollService, miru_client: miru.Client) -> None:
        open_polls = await polls.list_open(require_guild(ctx.guild_id))
        if not open_polls:
            await ctx.respond("There are no open polls in this server. Start one with `/poll create`.", ephemeral=True)
            return
        pages = []
        for start in range(0, len(open_polls), POLLS_PER_PAGE):
            lines = []
            for poll in open_polls[start : start + POLLS_PER_PAGE]:
                link = message_link(poll)
                question = escape_markdown(poll.question[:100])
                name = f"[{question}]({link})" if link else question
                closes = f"closes {discord_timestamp(poll.closes_at, 'R')}" if poll.closes_at else "no deadline"
                lines.append(f"**#{poll.id}** {name}\n{poll.voters} voters · {closes}")
            pages.append(hikari.Embed(title="Open polls", description="\n\n".join(lines), colour=BRAND_COLOUR))
        await send_pages(ctx, pages, miru_client)


loader.command(poll_group)


# components and lifecycle ------------------------------------------------------------------------------------------


@component_route(loader, FEATURE)  # every `poll:` click, with no per-click DI
async def on_poll_component(responder: Responder, polls: PollService) -> None:
    interaction = responder.interaction
    parts = interaction.custom_id.split(":")
    if len(parts) < 3 or not parts[1].isdigit():
        raise InvalidInput("This button belongs to an older version of the poll; it no longer works.")
    poll_id, action = int(parts[1]), parts[2]
    member = interaction.member
    role_ids = [int(r) for r in member.role_ids] if member is not None else []
    if action == "vote" and len(parts) == 4 and parts[3].isdigit():
        result = await polls.vote(poll_id, int(interaction.user.id), [int(parts[3])], role_ids=role_ids)
        await responder.ephemeral(vote_confirmation(result.removed, result.chosen))
    elif action == "select":
        positions = [int(v) for v in interaction.values if v.isdigit()]
        result = await polls.choose(poll_id, int(interaction.user.id), positions, role_ids=role_ids)
        await responder.ephemeral(vote_confirmation(result.removed, result.chosen))
    elif action == "end":
        closed = await polls.close(
            poll_id,
            user_id=int(interaction.user.id),
            can_manage=can_manage_messages(member),
            guild_id=interaction.guild_id,
        )
        await responder.update(embed=poll_embed(closed), components=poll_components(closed))
    else:
        raise InvalidInput("This button belongs to an older version of the poll; it no longer works.")


@loader.listener(hikari.StartedEvent)
async def start_polls(_: hikari.StartedEvent, polls: PollService, rest: hikari.api.RESTClient) -> None:
    refresh = refresher(rest, polls)
    polls.live.bind(refresh)

    async def on_closed(poll: Poll) -> None:
        polls.live.trigger(poll.id)

    polls.start(on_closed)


@loader.listener(hikari.StoppingEvent)
async def stop_polls(_: hikari.StoppingEvent, polls: PollService) -> None:
    await polls.stop()
    polls.live.bind(None)


@loader.listener(hikari.GuildMessageDeleteEvent)
async def poll_message_deleted(event: hikari.GuildMessageDeleteEvent, polls: PollService) -> None:
    closed = await polls.close_quietly_for_messages([int(event.message_id)])
    if closed:
        log.info("poll(s) %s closed: their message was deleted", closed)


@loader.listener(hikari.GuildBulkMessageDeleteEvent)
async def poll_messages_deleted(event: hikari.GuildBulkMessageDeleteEvent, polls: PollService) -> None:
    closed = await polls.close_quietly_for_messages([int(i) for i in event.message_ids])
    if closed:
        log.info("poll(s) %s closed: their messages were deleted", closed)


@loader.listener(hikari.GuildChannelDeleteEvent)
async def poll_channel_deleted(event: hikari.GuildChannelDeleteEvent, polls: PollService) -> None:
    closed = await polls.close_quietly_for_channel(int(event.channel_id))
    if closed:
        log.info("poll(s) %s closed: their channel was deleted", closed)
