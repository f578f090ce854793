"""Shared state of the fake Discord; REST, gateway and driver mixins all build on this class."""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
import dataclasses
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from aiohttp import web

from tests.harness.discord.messages import MessageFactory, SentFile
from tests.harness.discord.world import FakeChannel, FakeGuild
from tests.harness.payloads import JSON, ChannelType, make_token, user_payload
from tests.harness.snowflakes import SnowflakeFactory

_LOGGER = logging.getLogger("tests.harness.discord")
T = TypeVar("T")


@dataclasses.dataclass
class RecordedRequest:
    """One REST call the bot made."""

    method: str
    path: str  # after /api/v10, e.g. "/channels/123/messages"
    route: str  # template, e.g. "/channels/{channel}/messages" ("?" when unhandled)
    query: dict[str, str]
    json: Any
    files: list[SentFile]
    headers: dict[str, str]
    time: float  # time.monotonic() on arrival
    status: int = 0
    response: Any = None


@dataclasses.dataclass
class FailRule:
    method: str
    pattern: re.Pattern[str]
    status: int
    code: int
    message: str
    remaining: int


@dataclasses.dataclass
class InteractionRecord:
    """Server-side view of an interaction the driver created, and everything the bot did with it."""

    id: int
    token: str
    type: int
    payload: JSON
    created: float
    channel_id: int
    guild_id: int | None
    user: JSON
    source_message: JSON | None = None  # the message a component sits on
    response_type: int | None = None
    responded_at: float | None = None
    original: JSON | None = None  # message created by 4/5, or the component message for 6/7
    original_edits: int = 0
    followups: list[JSON] = dataclasses.field(default_factory=list)
    choices: list[JSON] | None = None
    modal: JSON | None = None
    errors: list[str] = dataclasses.field(default_factory=list)
    metadata: JSON = dataclasses.field(default_factory=dict)  # interaction_metadata for messages it creates


class DiscordHTTPError(Exception):
    """Raised by route handlers; rendered as Discord's JSON error body."""

    def __init__(self, status: int, code: int, message: str, errors: JSON | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors


class FakeDiscordBase(abc.ABC):
    """World + records. Subclasses add the HTTP/WS surfaces and the test driver."""

    def __init__(self, *, shard_count: int = 1, max_concurrency: int = 1) -> None:
        self.snowflakes = SnowflakeFactory()
        self.shard_count = shard_count
        self.max_concurrency = max_concurrency
        self.bot_user_id = self.snowflakes.next()
        self.application_id = self.bot_user_id
        self.owner_id = self.snowflakes.next()
        self.token = make_token(self.bot_user_id)
        self.bot_name = "Hanabi"
        self.bot_user: JSON = user_payload(self.bot_user_id, self.bot_name, bot=True, global_name=None)
        self.owner_user: JSON = user_payload(self.owner_id, "owner")
        # World.
        self.guilds: dict[int, FakeGuild] = {}
        self.users: dict[int, JSON] = {self.bot_user_id: self.bot_user, self.owner_id: self.owner_user}
        self.dm_channels: dict[int, FakeChannel] = {}  # recipient user id -> DM channel
        self.dm_blocked: set[int] = set()  # users who do not accept DMs (403 50007)
        # Records.
        self.requests: list[RecordedRequest] = []
        self.global_commands: list[JSON] = []
        self.guild_commands: dict[int, list[JSON]] = {}
        self.messages: dict[int, list[JSON]] = collections.defaultdict(list)
        self.deleted_messages: list[JSON] = []
        self.identifies: list[JSON] = []
        self.violations: list[str] = []
        self.error_responses: list[str] = []  # every non-2xx answer we gave (violations or legit errors)
        self.voice_requests: list[JSON] = []
        self.member_requests: list[JSON] = []
        self.presence_updates: list[JSON] = []
        self.dropped_events: list[tuple[str, str]] = []  # (event, reason) not delivered to the bot
        self.interactions: dict[int, InteractionRecord] = {}
        self.interaction_deadline = 3.0
        self.fail_rules: list[FailRule] = []
        # Test hook: Discord no longer accepts the token (REST 401, gateway close 4004); not a violation.
        self.reject_token = False
        self.message_factory = MessageFactory(self.new_id, lambda: self.cdn_url)
        self.port = 0
        self._changed: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._background: set[asyncio.Task[Any]] = set()  # may block indefinitely (held READY)
        self._consumed_requests: set[int] = set()
        self._consumed_messages: set[str] = set()

    # -- urls ----------------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def cdn_url(self) -> str:
        return f"{self.base_url}/cdn"

    # -- hooks for world objects ---------------------------------------------------------------------------------

    def new_id(self) -> int:
        return self.snowflakes.next()

    def register_user(self, user: JSON) -> None:
        self.users[int(user["id"])] = user

    def notify(self, event: str, data: JSON, *, guild_id: int | None) -> None:
        """Announce a world change over the gateway if the guild's shard is live (no-op before READY)."""
        if guild_id is not None and guild_id not in self.guilds:
            return  # the guild itself is still being built
        if self._shard_live(self.shard_for(guild_id)):
            self.spawn(self.dispatch(event, data, shard_id=self.shard_for(guild_id)))

    # Implemented by the gateway mixin.
    @abc.abstractmethod
    def _shard_live(self, shard_id: int) -> bool: ...

    @abc.abstractmethod
    async def dispatch(self, event: str, data: JSON, *, shard_id: int | None = None, force: bool = False) -> None: ...

    def shard_for(self, guild_id: int | None) -> int:
        return 0 if guild_id is None else (guild_id >> 22) % self.shard_count

    # -- task & wait helpers -------------------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any], *, flushable: bool = True) -> None:
        """Run ``coro`` in the background; ``flush()`` waits for it unless ``flushable`` is False."""
        task = asyncio.get_running_loop().create_task(coro)
        tasks = self._tasks if flushable else self._background
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def flush(self) -> None:
        """Wait until every queued gateway notification has been sent."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def changed(self) -> None:
        """Wake every waiter; called after each state mutation."""
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait_until(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        """Re-run ``check`` after every state change (and every 20 ms) until it returns something not None."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result is not None:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}{self._hint()}")
            if self._changed is None:
                self._changed = asyncio.Event()
            # Also re-check every 20 ms: predicates may watch bot-side state the fake is not told about.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.02))

    def _hint(self) -> str:
        parts = []
        if self.violations:
            parts.append(f"violations={self.violations[-5:]}")
        if self.error_responses:
            parts.append(f"errors={self.error_responses[-5:]}")
        return f" ({'; '.join(parts)})" if parts else ""

    def violation(self, message: str) -> None:
        _LOGGER.warning("discord-limit violation: %s", message)
        self.violations.append(message)
        self.changed()

    # -- world lookups -------------------------------------------------------------------------------------------

    def find_channel(self, channel_id: int) -> FakeChannel | None:
        for guild in self.guilds.values():
            if channel_id in guild.channels:
                return guild.channels[channel_id]
        for channel in self.dm_channels.values():
            if channel.id == channel_id:
                return channel
        return None

    def dm_channel_for(self, user_id: int) -> FakeChannel:
        if user_id not in self.dm_channels:
            user = self.users.get(user_id) or user_payload(user_id, f"user{user_id}")
            self.dm_channels[user_id] = FakeChannel(id=self.new_id(), name="", type=ChannelType.DM, recipients=[user])
        return self.dm_channels[user_id]

    def find_message(self, message_id: int) -> JSON | None:
        for messages in self.messages.values():
            for message in messages:
                if message["id"] == str(message_id):
                    return message
        return None

    def store_message(self, message: JSON) -> JSON:
        channel_id = int(message["channel_id"])
        self.messages[channel_id].append(message)
        if channel := self.find_channel(channel_id):
            channel.last_message_id = int(message["id"])
        self.changed()
        return message

    def remove_message(self, message: JSON) -> None:
        channel_messages = self.messages[int(message["channel_id"])]
        if message in channel_messages:
            channel_messages.remove(message)
        message["deleted"] = True  # kept on the object so held references can tell
        self.deleted_messages.append(message)
        self.changed()

    # -- misc ----------------------------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int = 403,
        code: int = 50013,
        message: str = "Missing Permissions",
        *,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` matching REST calls fail with the given Discord error."""
        self.fail_rules.append(FailRule(method.upper(), re.compile(path_regex), status, code, message, times))

    def block_dms(self, user_id: int) -> None:
        """Messages to this user's DM channel answer 403 50007 Cannot send messages to this user."""
        self.dm_blocked.add(user_id)


Handler = Callable[..., Awaitable[web.StreamResponse]]
