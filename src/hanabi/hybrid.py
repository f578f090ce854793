"""Hybrid commands: every slash command also runs from a text prefix, from the same definition.

A prefixed message (`!pay @alice 50 for lunch`, or `@Hanabi pay ...`) is parsed against the command's
declared options and turned into a `hikari.CommandInteraction` whose response methods reply to the message.
It then goes through lightbulb's normal pipeline (`Client.handle_interaction_create`), so hooks, cooldowns,
permission checks, the error handler and metrics apply exactly as for the slash command.

Replies that the slash version sends ephemerally go by direct message for commands marked
`@private_replies` and otherwise as a reply that deletes itself after `EPHEMERAL_REPLY_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import hikari
import lightbulb
from lightbulb.commands.commands import CommandBase
from lightbulb.internal import constants as lb_constants

from hanabi.infra.channels import ChannelDirectory
from hanabi.infra.gateway_messages import GatewayMessage
from hanabi.ui.permissions import effective_permissions

log = logging.getLogger(__name__)

EPHEMERAL_REPLY_SECONDS = 30.0
SLASH_ONLY_ATTR = "__hanabi_slash_only__"
PRIVATE_REPLIES_ATTR = "__hanabi_private_replies__"

CommandT = TypeVar("CommandT", bound=type[CommandBase])

_TRUE = {"yes", "y", "true", "t", "on", "1", "enable", "enabled"}
_FALSE = {"no", "n", "false", "f", "off", "0", "disable", "disabled"}
_USER_MENTION = re.compile(r"^<@!?(\d{15,21})>$")
_ROLE_MENTION = re.compile(r"^<@&(\d{15,21})>$")
_CHANNEL_MENTION = re.compile(r"^<#(\d{15,21})>$")
_SNOWFLAKE = re.compile(r"^\d{15,21}$")
_KEYWORD = re.compile(r"^([a-z0-9_-]{1,32})[:=](.+)$", re.DOTALL)
# Option types a text argument cannot carry: such commands are slash-only.
_UNSUPPORTED_TYPES = frozenset({hikari.OptionType.ATTACHMENT})


def slash_only(reason: str) -> Callable[[CommandT], CommandT]:
    """Declare that a command makes no sense as text (it opens a modal, takes a file...). Help shows why."""

    def mark(command: CommandT) -> CommandT:
        setattr(command, SLASH_ONLY_ATTR, reason)
        return command

    return mark


def private_replies(command: CommandT) -> CommandT:
    """Ephemeral replies of this command hold private data: from a prefix they go by direct message."""
    setattr(command, PRIVATE_REPLIES_ATTR, True)
    return command


def slash_only_reason(command: type[CommandBase]) -> str | None:
    """Why a command is slash-only, or None when it also works by prefix."""
    declared: str | None = getattr(command, SLASH_ONLY_ATTR, None)
    if declared:
        return declared
    data = command._command_data
    if data.type is not hikari.CommandType.SLASH:
        return "context-menu commands are used from the right-click menu"
    if any(option.type in _UNSUPPORTED_TYPES for option in data.options.values()):
        return "it takes a file attachment"
    return None


def _inherited(command: type[CommandBase], attribute: str) -> Any:
    """A command's own value, else its (sub)group's, else the root group's: Discord applies the root's."""
    value = getattr(command._command_data, attribute, hikari.UNDEFINED)
    parent: Any = command._command_data.parent
    while value is hikari.UNDEFINED and parent is not None:
        value = getattr(parent, attribute, hikari.UNDEFINED)
        parent = getattr(parent, "parent", None)
    return value


def required_permissions(command: type[CommandBase]) -> hikari.Permissions:
    """`default_member_permissions` as Discord enforces it for the slash form (set on the root group)."""
    value = _inherited(command, "default_member_permissions")
    return value if isinstance(value, hikari.Permissions) else hikari.Permissions.NONE


def allowed_in_dms(command: type[CommandBase]) -> bool:
    contexts = _inherited(command, "contexts")
    return contexts is hikari.UNDEFINED or hikari.ApplicationContextType.BOT_DM in contexts


# usage ------------------------------------------------------------------------------------------------------------


def usage_line(command: type[CommandBase], prefix: str) -> str:
    """`!pay <user> <amount> [note]` — the same text help shows for the prefix form."""
    parts = [f"{prefix}{command._command_data.qualified_name}"]
    for option in command._command_data.options.values():
        parts.append(f"<{option.name}>" if option.default is hikari.UNDEFINED else f"[{option.name}]")
    return " ".join(parts)


class PrefixArgumentError(Exception):
    """The text arguments do not fit the command; the message says which and what is accepted."""


# parsing ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    path: tuple[str, ...]
    command: type[CommandBase]
    registered_guild_id: int | None
    arguments: str


class CommandIndex:
    """Finds the command a prefixed message names, case-insensitively, including group subcommands."""

    def __init__(self, client: lightbulb.Client) -> None:
        self._client = client

    def _collections(self, guild_id: int | None) -> list[tuple[int | None, Mapping[tuple[str, ...], Any]]]:
        mapping = self._client.invokable_commands
        found: list[tuple[int | None, Mapping[tuple[str, ...], Any]]] = []
        if guild_id is not None and guild_id in mapping:
            found.append((guild_id, mapping[guild_id]))
        found.append((None, mapping.get(lb_constants.GLOBAL_COMMAND_KEY, {})))
        return found

    def resolve(self, text: str, guild_id: int | None) -> ParsedCommand | None:
        words = text.split(maxsplit=3)
        lowered = [word.lower() for word in words]
        for registered_guild, commands in self._collections(guild_id):
            for depth in (3, 2, 1):
                if len(lowered) < depth:
                    continue
                collection = commands.get(tuple(lowered[:depth]))
                if collection is None or collection.slash is None:
                    continue
                rest = text.split(maxsplit=depth)
                return ParsedCommand(
                    tuple(lowered[:depth]),
                    collection.slash,
                    registered_guild,
                    rest[depth] if len(rest) > depth else "",
                )
        return None

    def all_commands(self) -> list[type[CommandBase]]:
        seen: dict[int, type[CommandBase]] = {}
        for commands in self._client.invokable_commands.values():
            for collection in commands.values():
                for command in (collection.slash, collection.user, collection.message):
                    if command is not None:
                        seen[id(command)] = command
        return list(seen.values())


def split_arguments(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.quotes = "\"'“”"  # phones type curly quotes
    lexer.escape = ""
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:
        raise PrefixArgumentError("A quote is not closed. Wrap text with spaces in matching quotes.") from None


class ArgumentResolver:
    """Turns text into option values, resolving mentions and ids through the cache (or REST)."""

    def __init__(
        self,
        bot: hikari.GatewayBot,
        message: hikari.Message,
        guild_id: int | None,
        channels: ChannelDirectory,
        permission_channel: hikari.GuildChannel | None,
    ) -> None:
        self._bot = bot
        self._message = message
        self._guild_id = guild_id
        self._channels = channels
        self._permission_channel = permission_channel  # where the message was sent (a thread's parent)
        self.users: dict[hikari.Snowflake, hikari.User] = {}
        self.members: dict[hikari.Snowflake, hikari.InteractionMember] = {}
        self.roles: dict[hikari.Snowflake, hikari.Role] = {}
        self.channels: dict[hikari.Snowflake, hikari.InteractionChannel] = {}

    async def convert(self, option: Any, raw: str) -> Any:  # noqa: PLR0912 - one branch per option type
        name = option.name
        kind = option.type
        if kind is hikari.OptionType.STRING:
            return self._choice(option, raw)
        if kind is hikari.OptionType.INTEGER:
            try:
                value: int | float = int(raw.replace("_", "").replace(",", ""))
            except ValueError:
                raise PrefixArgumentError(f"`{name}` must be a whole number, not `{raw[:40]}`.") from None
            return self._choice(option, self._bounded(option, value))
        if kind is hikari.OptionType.FLOAT:
            try:
                value = float(raw.replace(",", "."))
            except ValueError:
                raise PrefixArgumentError(f"`{name}` must be a number, not `{raw[:40]}`.") from None
            return self._choice(option, self._bounded(option, value))
        if kind is hikari.OptionType.BOOLEAN:
            lowered = raw.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise PrefixArgumentError(f"`{name}` must be yes or no (also true/false, on/off).")
        if kind is hikari.OptionType.USER:
            return await self._user(name, raw)
        if kind is hikari.OptionType.ROLE:
            return self._role(name, raw)
        if kind is hikari.OptionType.CHANNEL:
            return await self._channel(name, raw, option.channel_types)
        if kind is hikari.OptionType.MENTIONABLE:
            if _ROLE_MENTION.match(raw):
                return self._role(name, raw)
            return await self._user(name, raw)
        raise PrefixArgumentError(f"`{name}` can only be given with the slash command.")

    @staticmethod
    def _bounded(option: Any, value: float) -> float:
        low = option.min_value if option.min_value is not hikari.UNDEFINED else None
        high = option.max_value if option.max_value is not hikari.UNDEFINED else None
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = (
                f"between {low} and {high}"
                if low is not None and high is not None
                else f"at least {low}"
                if low is not None
                else f"at most {high}"
            )
            raise PrefixArgumentError(f"`{option.name}` must be {bounds}.")
        return value

    @staticmethod
    def _choice(option: Any, value: Any) -> Any:
        choices = option.choices
        if choices is hikari.UNDEFINED or not choices:
            if isinstance(value, str):
                low = option.min_length if option.min_length is not hikari.UNDEFINED else None
                high = option.max_length if option.max_length is not hikari.UNDEFINED else None
                if (low is not None and len(value) < low) or (high is not None and len(value) > high):
                    raise PrefixArgumentError(
                        f"`{option.name}` must be {low or 0} to {high if high is not None else 6000} characters long."
                    )
            return value
        for choice in choices:
            if str(choice.value).lower() == str(value).lower() or choice.name.lower() == str(value).lower():
                return choice.value
        names = ", ".join(f"`{choice.name}`" for choice in choices)
        raise PrefixArgumentError(f"`{option.name}` must be one of {names}.")

    async def _user(self, name: str, raw: str) -> hikari.Snowflake:
        match = _USER_MENTION.match(raw) or (_SNOWFLAKE.match(raw) and re.match(r"(\d+)", raw))
        if not match:
            raise PrefixArgumentError(f"`{name}` must be a user mention like @someone, or a user id.")
        user_id = hikari.Snowflake(int(match.group(1)))
        mentioned = self._message.user_mentions
        user = (mentioned.get(user_id) if mentioned is not hikari.UNDEFINED else None) or self._bot.cache.get_user(
            user_id
        )
        member: hikari.Member | None = None
        if self._guild_id is not None:
            member = self._bot.cache.get_member(self._guild_id, user_id)
            if member is None:
                with contextlib.suppress(hikari.NotFoundError):
                    member = await self._bot.rest.fetch_member(self._guild_id, user_id)
        if member is not None:
            user = member.user
            self.members[user_id] = to_interaction_member(self._bot.cache, member, self._permission_channel)
        if user is None:
            try:
                user = await self._bot.rest.fetch_user(user_id)
            except hikari.NotFoundError:
                raise PrefixArgumentError(f"`{name}`: I can't find a user with id {user_id}.") from None
        self.users[user_id] = user
        return user_id

    def _role(self, name: str, raw: str) -> hikari.Snowflake:
        match = _ROLE_MENTION.match(raw) or (_SNOWFLAKE.match(raw) and re.match(r"(\d+)", raw))
        role = None
        if match and self._guild_id is not None:
            role = self._bot.cache.get_role(hikari.Snowflake(int(match.group(1))))
        if role is None and self._guild_id is not None:
            lowered = raw.lstrip("@").lower()
            role = next(
                (
                    r
                    for r in self._bot.cache.get_roles_view_for_guild(self._guild_id).values()
                    if r.name.lower() == lowered
                ),
                None,
            )
        if role is None:
            raise PrefixArgumentError(f"`{name}` must be a role mention, a role id or a role's exact name.")
        self.roles[role.id] = role
        return role.id

    async def _channel(
        self, name: str, raw: str, channel_types: Sequence[hikari.ChannelType] | None
    ) -> hikari.Snowflake:
        match = _CHANNEL_MENTION.match(raw) or (_SNOWFLAKE.match(raw) and re.match(r"(\d+)", raw))
        channel = await self._channels.get(int(match.group(1))) if match else None
        if channel is None or (self._guild_id is not None and channel.guild_id != self._guild_id):
            raise PrefixArgumentError(f"`{name}` must be a channel mention like #general, or a channel id.")
        if channel_types and channel.type not in channel_types:
            raise PrefixArgumentError(f"`{name}` can't be {channel.mention}: wrong kind of channel.")
        self.channels[channel.id] = hikari.InteractionChannel(
            app=self._bot,
            id=channel.id,
            name=channel.name,
            type=channel.type,
            permissions=hikari.Permissions.NONE,
            parent_id=channel.parent_id,
            thread_metadata=None,
        )
        return channel.id


async def parse_options(
    command: type[CommandBase], arguments: str, resolver: ArgumentResolver
) -> list[hikari.CommandInteractionOption]:
    """Positional arguments in declared order; `name:value` for any option; the last text option takes the rest."""
    declared = list(command._command_data.options.values())
    tokens = split_arguments(arguments)
    by_name = {option.name: option for option in declared}
    raw_values: dict[str, str] = {}
    positional: list[str] = []
    for token in tokens:
        keyword = _KEYWORD.match(token)
        if keyword and keyword.group(1).lower() in by_name and not _USER_MENTION.match(token):
            raw_values[keyword.group(1).lower()] = keyword.group(2)
        else:
            positional.append(token)

    pending = [option for option in declared if option.name not in raw_values]
    last_text = max(
        (i for i, option in enumerate(pending) if option.type is hikari.OptionType.STRING and not option.choices),
        default=-1,
    )
    index = 0
    for slot, option in enumerate(pending):
        if index >= len(positional):
            break
        if (slot == last_text and slot == len(pending) - 1) or (slot == last_text and _rest_fits(pending, slot)):
            remaining_needed = len(pending) - slot - 1
            take = max(1, len(positional) - index - remaining_needed) if remaining_needed else len(positional) - index
            raw_values[option.name] = " ".join(positional[index : index + take])
            index += take
            continue
        raw_values[option.name] = positional[index]
        index += 1
    if index < len(positional):
        extra = " ".join(positional[index:])
        raise PrefixArgumentError(f"I don't know what to do with `{extra[:60]}`.")

    options: list[hikari.CommandInteractionOption] = []
    for option in declared:
        raw = raw_values.get(option.name)
        if raw is None:
            if option.default is hikari.UNDEFINED:
                raise PrefixArgumentError(f"`{option.name}` is missing: {option.description}.")
            continue
        value = await resolver.convert(option, raw)
        options.append(hikari.CommandInteractionOption(name=option.name, type=option.type, value=value, options=None))
    return options


def _rest_fits(pending: list[Any], slot: int) -> bool:
    # A middle text option takes the rest only when every later option is optional (they stay unset).
    return all(option.default is not hikari.UNDEFINED for option in pending[slot + 1 :])


def to_interaction_member(
    cache: hikari.api.Cache, member: hikari.Member, channel: hikari.GuildChannel | None
) -> hikari.InteractionMember:
    permissions = effective_permissions(cache, member.guild_id, member.id, list(member.role_ids), channel)
    return hikari.InteractionMember(
        guild_id=member.guild_id,
        is_deaf=member.is_deaf,
        is_mute=member.is_mute,
        is_pending=member.is_pending,
        joined_at=member.joined_at,
        nickname=member.nickname,
        premium_since=member.premium_since,
        raw_communication_disabled_until=member.raw_communication_disabled_until,
        role_ids=list(member.role_ids),
        user=member.user,
        guild_avatar_decoration=member.guild_avatar_decoration,
        guild_avatar_hash=member.guild_avatar_hash,
        guild_banner_hash=member.guild_banner_hash,
        guild_flags=member.guild_flags,
        permissions=permissions,
    )


# the interaction that answers in the channel ------------------------------------------------------------------


class PrefixInteraction(hikari.CommandInteraction):
    """A command interaction made from a message: responses become replies (or DMs) in the channel."""

    _hanabi_message: hikari.Message
    _hanabi_private: bool
    _hanabi_bridge: HybridBridge
    _hanabi_initial: hikari.Message | None
    _hanabi_deferred_ephemeral: bool

    async def create_initial_response(  # type: ignore[override]  # responses become messages
        self, response_type: hikari.ResponseType, content: Any = hikari.UNDEFINED, **kwargs: Any
    ) -> None:
        flags = kwargs.pop("flags", hikari.UNDEFINED)
        ephemeral = bool(flags is not hikari.UNDEFINED and flags & hikari.MessageFlag.EPHEMERAL)
        if response_type in (hikari.ResponseType.DEFERRED_MESSAGE_CREATE, hikari.ResponseType.DEFERRED_MESSAGE_UPDATE):
            self._hanabi_deferred_ephemeral = ephemeral
            with contextlib.suppress(hikari.HTTPError):
                await self.app.rest.trigger_typing(self._hanabi_message.channel_id)
            return
        self._hanabi_initial = await self._send(content, ephemeral=ephemeral, **kwargs)

    async def execute(self, content: Any = hikari.UNDEFINED, **kwargs: Any) -> hikari.Message:
        flags = kwargs.pop("flags", hikari.UNDEFINED)
        ephemeral = bool(flags is not hikari.UNDEFINED and flags & hikari.MessageFlag.EPHEMERAL)
        if self._hanabi_initial is None:
            # The first follow-up after a defer is the deferred response itself.
            ephemeral = ephemeral or self._hanabi_deferred_ephemeral
            self._hanabi_initial = await self._send(content, ephemeral=ephemeral, **kwargs)
            return self._hanabi_initial
        return await self._send(content, ephemeral=ephemeral, **kwargs)

    async def edit_initial_response(self, content: Any = hikari.UNDEFINED, **kwargs: Any) -> hikari.Message:
        if self._hanabi_initial is None:
            self._hanabi_initial = await self._send(content, ephemeral=self._hanabi_deferred_ephemeral, **kwargs)
            return self._hanabi_initial
        self._hanabi_initial = await self._hanabi_initial.edit(content, **kwargs)
        return self._hanabi_initial

    async def fetch_initial_response(self) -> hikari.Message:
        if self._hanabi_initial is None:
            raise hikari.NotFoundError("prefix://initial", {}, b"", "no response yet")
        return self._hanabi_initial

    async def delete_initial_response(self) -> None:
        if self._hanabi_initial is not None:
            await self._hanabi_initial.delete()
            self._hanabi_initial = None

    async def edit_message(
        self, message: hikari.SnowflakeishOr[hikari.Message], content: Any = hikari.UNDEFINED, **kwargs: Any
    ) -> hikari.Message:
        return await self.app.rest.edit_message(self._response_channel(message), message, content, **kwargs)

    async def delete_message(self, message: hikari.SnowflakeishOr[hikari.Message]) -> None:
        await self.app.rest.delete_message(self._response_channel(message), message)

    async def fetch_message(self, message: hikari.SnowflakeishOr[hikari.Message]) -> hikari.Message:
        return await self.app.rest.fetch_message(self._response_channel(message), message)

    async def create_modal_response(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        raise PrefixArgumentError("This command opens a form, so it only works as a slash command.")

    def _response_channel(self, message: hikari.SnowflakeishOr[hikari.Message]) -> hikari.Snowflakeish:
        if isinstance(message, hikari.Message):
            return message.channel_id
        return self._hanabi_message.channel_id

    async def _send(self, content: Any, *, ephemeral: bool, **kwargs: Any) -> hikari.Message:
        kwargs.pop("tts", None)
        poll = kwargs.pop("poll", hikari.UNDEFINED)
        if poll is not hikari.UNDEFINED:
            kwargs["poll"] = poll
        rest = self.app.rest
        if ephemeral and self._hanabi_private:
            try:
                dm = await rest.create_dm_channel(self._hanabi_message.author.id)
                sent = await rest.create_message(dm, content, **kwargs)
            except hikari.ForbiddenError:
                return await self._hanabi_bridge.reply_briefly(
                    self._hanabi_message,
                    "I couldn't send you a direct message. Allow DMs from server members, or use the slash command.",
                )
            with contextlib.suppress(hikari.HTTPError):
                await self._hanabi_message.add_reaction("📬")
            return sent
        sent = await rest.create_message(
            self._hanabi_message.channel_id,
            content,
            reply=self._hanabi_message,
            mentions_reply=False,
            reply_must_exist=False,  # automod may have deleted the command message already
            **kwargs,
        )
        if ephemeral:
            self._hanabi_bridge.delete_later(sent)
        return sent


# the bridge ---------------------------------------------------------------------------------------------------


class HybridBridge:
    """Listens for prefixed messages and runs the matching command through lightbulb's pipeline."""

    def __init__(
        self,
        bot: hikari.GatewayBot,
        client: lightbulb.Client,
        prefix_for: Callable[[int | None], Any],
        channels: ChannelDirectory,
        *,
        known_prefix_for: Callable[[int | None], str | None] = lambda _: None,
    ) -> None:
        self._bot = bot
        self._client = client
        self._prefix_for = prefix_for
        self._known_prefix_for = known_prefix_for
        self._channels = channels
        self.index = CommandIndex(client)
        self._tasks: set[asyncio.Task[None]] = set()
        self._mentions: tuple[str, ...] = ()  # "<@id>" and "<@!id>" of the bot, once its user is known
        self.ephemeral_reply_seconds = EPHEMERAL_REPLY_SECONDS

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def delete_later(self, message: hikari.Message) -> None:
        async def remove() -> None:
            await asyncio.sleep(self.ephemeral_reply_seconds)
            with contextlib.suppress(hikari.HTTPError):
                await message.delete()

        task = asyncio.create_task(remove())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reply_briefly(self, message: hikari.Message, text: str) -> hikari.Message:
        sent = await self._bot.rest.create_message(
            message.channel_id,
            text,
            reply=message,
            mentions_reply=False,
            reply_must_exist=False,  # automod may have deleted the command message already
            user_mentions=False,
            role_mentions=False,
            mentions_everyone=False,
        )
        self.delete_later(sent)
        return sent

    def strip_prefix(self, content: str, prefix: str) -> str | None:
        if not self._mentions and (me := self._bot.get_me()) is not None:
            self._mentions = (f"<@{me.id}>", f"<@!{me.id}>")  # once: get_me() copies the user on every call
        for mention in self._mentions:
            if content.startswith(mention):
                return content[len(mention) :].strip()
        if content.startswith(prefix):
            return content[len(prefix) :].strip()
        return None

    def on_gateway_message(
        self, message: GatewayMessage, shard: hikari.api.GatewayShard, payload: dict[str, Any]
    ) -> None:
        """Every message, raw (`EventIntake.on_message`): hikari's event is built only for a likely command."""
        if message.author_is_bot or message.author_is_system or not message.content or message.webhook_id is not None:
            return
        prefix = self._known_prefix_for(message.guild_id)
        if prefix is not None and self.strip_prefix(message.content, prefix) is None:
            return  # the usual case: chat, not a command
        task = asyncio.create_task(self._on_payload(shard, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_payload(self, shard: hikari.api.GatewayShard, payload: dict[str, Any]) -> None:
        try:
            event = self._bot.event_factory.deserialize_message_create_event(shard, payload)
            await self.on_message(event)
        except Exception:
            log.exception("prefix command message %s failed", payload.get("id"))

    async def on_message(self, event: hikari.MessageCreateEvent) -> None:
        """A message `on_gateway_message` let through (not from a bot, a webhook or the system; with content)."""
        message = event.message
        assert message.content is not None
        guild_id = message.guild_id
        prefix: str = await self._prefix_for(guild_id)
        text = self.strip_prefix(message.content, prefix)
        if not text:
            return
        parsed = self.index.resolve(text, guild_id)
        if parsed is None:
            return  # unknown commands are ignored silently
        reason = slash_only_reason(parsed.command)
        if reason is not None:
            await self.reply_briefly(
                message, f"`/{parsed.command._command_data.qualified_name}` only works as a slash command: {reason}."
            )
            return
        try:
            interaction = await self._build_interaction(message, parsed)
        except PrefixArgumentError as error:
            await self.reply_briefly(message, f"{error}\nUsage: `{usage_line(parsed.command, prefix)}`")
            return
        if interaction is None:
            return
        await self._client.handle_interaction_create(interaction)

    async def _build_interaction(self, message: hikari.Message, parsed: ParsedCommand) -> PrefixInteraction | None:
        bot = self._bot
        guild_id = message.guild_id
        channel = await self._channels.get(message.channel_id) if guild_id is not None else None
        permission_channel = await self._channels.permission_channel(message.channel_id) if channel else None
        resolver = ArgumentResolver(bot, message, guild_id, self._channels, permission_channel)
        options = await parse_options(parsed.command, parsed.arguments, resolver)

        member: hikari.InteractionMember | None = None
        if guild_id is None and not allowed_in_dms(parsed.command):
            await self.reply_briefly(message, "This command works only in a server.")
            return None
        if guild_id is not None:
            author_member = message.member
            if author_member is None:
                return None
            member = to_interaction_member(bot.cache, author_member, permission_channel)
            required = required_permissions(parsed.command)
            if required and (member.permissions & required) != required:
                from hanabi.ui.permissions import missing_permissions, permission_names

                missing = missing_permissions(member.permissions, required)
                await self.reply_briefly(
                    message, f"You need the {permission_names(missing)} permission to use this command."
                )
                return None

        # Subcommands nest their options the way Discord sends them.
        nested: list[hikari.CommandInteractionOption] = options
        for depth, name in reversed(list(enumerate(parsed.path[1:], start=1))):
            kind = (
                hikari.OptionType.SUB_COMMAND if depth == len(parsed.path) - 1 else hikari.OptionType.SUB_COMMAND_GROUP
            )
            nested = [hikari.CommandInteractionOption(name=name, type=kind, value=None, options=nested)]  # type: ignore[arg-type]

        me = bot.get_me()
        app_permissions = (
            effective_permissions(bot.cache, guild_id, me.id, list(_bot_role_ids(bot, guild_id)), permission_channel)
            if guild_id is not None and me is not None
            else hikari.Permissions.all_permissions()
        )
        guild = bot.cache.get_guild(guild_id) if guild_id is not None else None
        locale = str(guild.preferred_locale) if guild is not None else "en-US"
        interaction = PrefixInteraction(
            app=bot,
            id=message.id,
            application_id=me.id if me is not None else hikari.Snowflake(0),
            type=hikari.InteractionType.APPLICATION_COMMAND,
            token="prefix-command",  # noqa: S106 - not a credential: responses never use it
            version=1,
            user=message.author,
            member=member,
            channel=hikari.InteractionChannel(
                app=bot,
                id=message.channel_id,
                name=channel.name if channel is not None else None,
                type=channel.type if channel is not None else hikari.ChannelType.DM,
                permissions=member.permissions if member is not None else hikari.Permissions.all_permissions(),
                parent_id=channel.parent_id if channel is not None else None,
                thread_metadata=None,
            ),
            guild_id=guild_id,
            guild_locale=locale if guild_id is not None else None,
            locale=locale,
            authorizing_integration_owners={},
            context=hikari.ApplicationContextType.GUILD
            if guild_id is not None
            else hikari.ApplicationContextType.BOT_DM,
            entitlements=[],
            attachment_size_limit=8 * 1024 * 1024,
            command_id=hikari.Snowflake(0),
            command_name=parsed.path[0],
            command_type=hikari.CommandType.SLASH,
            registered_guild_id=hikari.Snowflake(parsed.registered_guild_id) if parsed.registered_guild_id else None,
            app_permissions=app_permissions,
            options=nested,
            resolved=hikari.ResolvedOptionData(
                attachments={},
                channels=resolver.channels,
                members=resolver.members,
                messages={},
                roles=resolver.roles,
                users=resolver.users,
            ),
            target_id=None,
        )
        interaction._hanabi_message = message
        interaction._hanabi_private = bool(getattr(parsed.command, PRIVATE_REPLIES_ATTR, False))
        interaction._hanabi_bridge = self
        interaction._hanabi_initial = None
        interaction._hanabi_deferred_ephemeral = False
        return interaction


def _bot_role_ids(bot: hikari.GatewayBot, guild_id: int) -> list[int]:
    me = bot.get_me()
    if me is None:
        return []
    member = bot.cache.get_member(guild_id, me.id)
    return list(member.role_ids) if member is not None else []
