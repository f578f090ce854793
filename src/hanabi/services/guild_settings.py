"""Per-server settings with a read-through cache, invalidated on write (locally and over the bus)."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from typing import Any

from hanabi.errors import InvalidInput
from hanabi.infra.clock import Clock, SystemClock
from hanabi.infra.events import EventBus
from hanabi.repositories.guild_settings import GuildSettingsRepository, GuildSettingsRow

INVALIDATE_TOPIC = "guild_settings.invalidate"
# Invalidation over the bus is at-most-once; the TTL bounds how long a missed message can leave a stale value.
CACHE_TTL_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """Effective settings: per-server values with the bot-wide defaults filled in."""

    guild_id: int
    prefix: str
    locale: str
    timezone: str
    modlog_channel_id: int | None


class GuildSettingsService:
    def __init__(
        self,
        repository: GuildSettingsRepository,
        bus: EventBus,
        default_prefix: str,
        clock: Clock | None = None,
        ttl: float = CACHE_TTL_SECONDS,
    ) -> None:
        self._repository = repository
        self._bus = bus
        self._default_prefix = default_prefix
        self._clock: Clock = clock or SystemClock()
        self._ttl = ttl
        self._cache: dict[int, tuple[float, GuildSettings]] = {}
        bus.subscribe(INVALIDATE_TOPIC, self._on_invalidate)
        bus.on_reconnect(self.invalidate_all)

    def cached(self, guild_id: int) -> GuildSettings | None:
        """The settings if loaded and still fresh, without waiting: for checks on every message."""
        cached = self._cache.get(guild_id)
        if cached is not None and cached[0] > self._clock.monotonic():
            return cached[1]
        return None

    async def get(self, guild_id: int) -> GuildSettings:
        now = self._clock.monotonic()
        cached = self._cache.get(guild_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        row = await self._repository.get(guild_id) or GuildSettingsRow(guild_id=guild_id)
        settings = self._effective(row)
        self._cache[guild_id] = (now + self._ttl, settings)
        return settings

    async def update(self, guild_id: int, **changes: Any) -> GuildSettings:
        if "prefix" in changes and changes["prefix"] is not None:
            prefix = str(changes["prefix"])
            if not 1 <= len(prefix) <= 5 or any(ch.isspace() for ch in prefix):
                raise InvalidInput("A prefix is 1 to 5 characters without spaces, for example `!` or `h!`.")
        if "timezone" in changes and changes["timezone"] is not None:
            validate_timezone(str(changes["timezone"]))
        row = await self._repository.update(guild_id, changes)
        self._cache.pop(guild_id, None)
        await self._bus.publish(INVALIDATE_TOPIC, {"guild_id": guild_id})
        return self._effective(row)

    def invalidate_all(self) -> None:
        self._cache.clear()

    async def _on_invalidate(self, payload: dict[str, Any]) -> None:
        self._cache.pop(int(payload["guild_id"]), None)

    def _effective(self, row: GuildSettingsRow) -> GuildSettings:
        return GuildSettings(
            guild_id=row.guild_id,
            prefix=row.prefix or self._default_prefix,
            locale=row.locale or "en-US",
            timezone=row.timezone or "UTC",
            modlog_channel_id=row.modlog_channel_id,
        )


def validate_timezone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"`{name}` is not a time zone I know. Use an IANA name such as `Europe/Berlin` or `America/New_York`."
        ) from None
