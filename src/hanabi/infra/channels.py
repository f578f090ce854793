"""Guild channels by id: fetched from Discord when first needed, then kept current from gateway events.

This replaces hikari's channel cache (`CacheComponents.GUILD_CHANNELS`), which holds every channel of every guild
from GUILD_CREATE on: 8 of the 10.6 KiB that a guild with 20 channels cost (docs/benchmarks.md, memory). Features
only need a channel to check permissions in it (automod, prefix commands, announcements, music) or to know its
kind, so this keeps the channels used lately, at most `limit` of them.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import hikari

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 10_000


class ChannelDirectory:
    def __init__(self, rest: hikari.api.RESTClient, *, limit: int = DEFAULT_LIMIT) -> None:
        self._rest = rest
        self._limit = limit
        self._channels: OrderedDict[int, hikari.GuildChannel] = OrderedDict()

    def attach(self, bot: hikari.GatewayBot) -> None:
        """Follow channel changes (before the bot starts)."""
        bot.subscribe(hikari.GuildChannelCreateEvent, self._on_channel)
        bot.subscribe(hikari.GuildChannelUpdateEvent, self._on_channel)
        bot.subscribe(hikari.GuildChannelDeleteEvent, self._on_channel_deleted)
        bot.subscribe(hikari.GuildLeaveEvent, self._on_guild_left)

    async def get(self, channel_id: int) -> hikari.GuildChannel | None:
        """The channel (a thread, too), or None when it does not exist, is not in a guild or is hidden from us."""
        channel = self._channels.get(channel_id)
        if channel is not None:
            self._channels.move_to_end(channel_id)
            return channel
        try:
            fetched = await self._rest.fetch_channel(channel_id)
        except (hikari.NotFoundError, hikari.ForbiddenError):
            return None
        if not isinstance(fetched, hikari.GuildChannel):
            return None
        self._remember(fetched)
        return fetched

    def cached(self, channel_id: int) -> hikari.GuildChannel | None:
        """The channel if it is held already; never makes a request."""
        return self._channels.get(channel_id)

    async def permission_channel(self, channel_id: int) -> hikari.GuildChannel | None:
        """The channel whose overwrites apply in `channel_id`: a thread's parent, else the channel itself."""
        channel = await self.get(channel_id)
        if isinstance(channel, hikari.GuildThreadChannel):
            return await self.get(channel.parent_id)
        return channel

    def __len__(self) -> int:
        return len(self._channels)

    def _remember(self, channel: hikari.GuildChannel) -> None:
        self._channels[int(channel.id)] = channel
        self._channels.move_to_end(int(channel.id))
        while len(self._channels) > self._limit:
            self._channels.popitem(last=False)

    async def _on_channel(self, event: hikari.GuildChannelCreateEvent | hikari.GuildChannelUpdateEvent) -> None:
        if int(event.channel_id) in self._channels:  # keep only channels in use; others are fetched when needed
            self._channels[int(event.channel_id)] = event.channel

    async def _on_channel_deleted(self, event: hikari.GuildChannelDeleteEvent) -> None:
        self._channels.pop(int(event.channel_id), None)

    async def _on_guild_left(self, event: hikari.GuildLeaveEvent) -> None:
        for channel_id in [cid for cid, channel in self._channels.items() if channel.guild_id == event.guild_id]:
            del self._channels[channel_id]
