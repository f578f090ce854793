"""A small key/value cache with a TTL per entry: in-process (bounded LRU) or Redis (shared between processes)."""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

from hanabi.infra.clock import Clock

if TYPE_CHECKING:
    import redis.asyncio as redis_asyncio

log = logging.getLogger(__name__)


class Cache(Protocol):
    kind: str

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, ttl: float) -> None: ...


class MemoryCache:
    """Least-recently-used entries go first once `max_entries` is reached; expiry follows the injected Clock."""

    kind = "memory"

    def __init__(self, clock: Clock, max_entries: int = 2048) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._clock = clock
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self._clock.monotonic() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: str, ttl: float) -> None:
        self._entries[key] = (self._clock.monotonic() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


class RedisCache:
    """Entries under `prefix` with Redis' own expiry. A Redis hiccup is a cache miss, never a failed command."""

    kind = "redis"

    def __init__(self, client: redis_asyncio.Redis, prefix: str = "hanabi:integrations:cache:") -> None:
        self._client = client
        self._prefix = prefix

    async def get(self, key: str) -> str | None:
        from redis.exceptions import RedisError

        try:
            value = await self._client.get(self._prefix + key)
        except (RedisError, OSError) as exc:
            log.warning("redis cache read failed: %s", type(exc).__name__)
            return None
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def set(self, key: str, value: str, ttl: float) -> None:
        from redis.exceptions import RedisError

        try:
            await self._client.set(self._prefix + key, value, px=max(1, int(ttl * 1000)))
        except (RedisError, OSError) as exc:
            log.warning("redis cache write failed: %s", type(exc).__name__)
