"""Daily counters for quotas: the protocol, and the Redis implementation (PostgreSQL lives in repositories)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import redis.asyncio as redis_asyncio

# INCR only while under the limit, and expire the key a day after the day ends.
_CONSUME = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= tonumber(ARGV[1]) then return -1 end
used = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return used
"""


class QuotaStore(Protocol):
    kind: str

    async def consume(self, scope: str, day: date, limit: int) -> bool:
        """Count one use; False (and nothing counted) when `limit` uses were already counted that day."""
        ...

    async def refund(self, scope: str, day: date) -> None:
        """Give back one use (the upstream failed, so nothing was spent)."""
        ...

    async def used(self, scope: str, day: date) -> int: ...


class RedisQuotaStore:
    kind = "redis"

    def __init__(self, client: redis_asyncio.Redis, prefix: str = "hanabi:integrations:quota:") -> None:
        self._client = client
        self._prefix = prefix

    def _key(self, scope: str, day: date) -> str:
        return f"{self._prefix}{scope}:{day.isoformat()}"

    async def consume(self, scope: str, day: date, limit: int) -> bool:
        result = await self._client.eval(_CONSUME, 1, self._key(scope, day), limit, 2 * 86400)
        return int(result) >= 0

    async def refund(self, scope: str, day: date) -> None:
        key = self._key(scope, day)
        if int(await self._client.decr(key)) < 0:
            await self._client.set(key, 0, keepttl=True)

    async def used(self, scope: str, day: date) -> int:
        value = await self._client.get(self._key(scope, day))
        return int(value or 0)
