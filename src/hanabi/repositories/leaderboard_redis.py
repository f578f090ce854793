"""The global rank index in a Redis sorted set, with PostgreSQL as the source of truth and the fallback.

`<namespace>:leaderboard:global` maps user id -> balance (positive balances only), so "wallets above B" is one
`ZCOUNT (B +inf`. Nothing here can change a balance: balances live in PostgreSQL, and the PostgreSQL bucket
index is still written by every balance change (`wallets_post`, migration 0012), so it can answer whenever
Redis cannot. After the commit, `published()` writes the new balances to Redis.

Keeping the set in step:
- Every change carries a version (the transaction's last ledger id, growing per user in commit order). A Lua
  script stores it in `<key>:versions` and ignores a change older than the one already applied, so two
  commits for one user that publish in the opposite order still leave the newer balance.
- `rebuild()` reads `wallets` in user-id batches (each row with its version, the user's last ledger id) into
  `<key>:build`, then RENAMEs it over the live key in one script: readers never see a half-built set. While a
  build runs (`<key>:build:lock` held), published changes go to both sets, the newest version winning.
- `<key>:built` marks a complete set. If it is missing (Redis restarted empty, or was flushed), or a Redis call
  fails, this process answers from PostgreSQL, logs a warning and rebuilds in the background with backoff;
  a change that could not be published also triggers a rebuild, since the set missed it.

A double holds every integer up to 2**53 exactly and rounds monotonically above, so ZCOUNT is exact for any
balance below 2**53; richer queries (unlikely, but wallets go to 2**63-1) are answered by PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence

import redis.asyncio as redis_asyncio
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from hanabi.infra.db import Database
from hanabi.repositories.leaderboard import BalanceChange, PostgresLeaderboardIndex

log = logging.getLogger(__name__)

EXACT_LIMIT = 2**53  # balances below this are exact as a sorted-set score
BUILD_LOCK_MS = 30_000  # a builder refreshes its lock with every batch; a dead builder's lock expires

# Apply (user, balance, version) triples to the live set and, while a build runs, to the build set too.
# KEYS: live, live versions, build, build versions, build lock, built marker. Returns 1, or 0 when unbuilt.
_APPLY = """
local function put(zkey, vkey, member, score, version)
  local have = redis.call('HGET', vkey, member)
  if have and tonumber(have) >= version then return end
  redis.call('HSET', vkey, member, version)
  if score == '0' then redis.call('ZREM', zkey, member) else redis.call('ZADD', zkey, score, member) end
end
local building = redis.call('EXISTS', KEYS[5]) == 1
for i = 1, #ARGV, 3 do
  local version = tonumber(ARGV[i + 2])
  put(KEYS[1], KEYS[2], ARGV[i], ARGV[i + 1], version)
  if building then put(KEYS[3], KEYS[4], ARGV[i], ARGV[i + 1], version) end
end
return redis.call('EXISTS', KEYS[6])
"""

# Start a build: take the lock and clear the build keys in one step. KEYS: lock, build, build versions.
_BEGIN = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
return 1
"""

# Load a batch read from PostgreSQL into the build keys (newer published versions win), refreshing the lock.
# KEYS: build, build versions, lock. ARGV: token, lock ms, then triples. Returns 0 when the lock was lost.
_LOAD = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[3], ARGV[2])
for i = 3, #ARGV, 3 do
  local member, score, version = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local have = redis.call('HGET', KEYS[2], member)
  if not (have and tonumber(have) >= version) then
    redis.call('HSET', KEYS[2], member, version)
    if score == '0' then redis.call('ZREM', KEYS[1], member) else redis.call('ZADD', KEYS[1], score, member) end
  end
end
return 1
"""

# Swap the build in. KEYS: lock, build, build versions, live, live versions, built marker.
_FINISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('UNLINK', KEYS[4], KEYS[5])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('RENAME', KEYS[2], KEYS[4]) end
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('RENAME', KEYS[3], KEYS[5]) end
redis.call('SET', KEYS[6], ARGV[2])
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: live, built marker. ARGV: balance. Returns -1 when the set is not built.
_COUNT = """
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
return redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')
"""

_BATCH = """
SELECT w.user_id, w.balance,
       COALESCE((SELECT max(l.id) FROM ledger l WHERE l.user_id = w.user_id), 0) AS version
FROM wallets w WHERE w.user_id > $1 ORDER BY w.user_id LIMIT $2
"""

_FAILURES = (RedisError, OSError)  # OSError includes TimeoutError


class LeaderboardUnbuilt(RuntimeError):
    """The sorted set is missing or a rebuild lost its lock."""


class RedisLeaderboardIndex:
    """A sorted set kept in step with PostgreSQL after each commit; PostgreSQL answers whenever it cannot."""

    kind = "redis"

    def __init__(
        self,
        url: str,
        database: Database,
        *,
        namespace: str,
        fallback: PostgresLeaderboardIndex | None = None,
        batch_size: int = 5_000,
        timeout: float = 2.0,
        retry_delays: tuple[float, float] = (1.0, 60.0),
    ) -> None:
        self._pool = database.pool
        self._fallback = fallback or PostgresLeaderboardIndex(database)
        self._redis = redis_asyncio.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        self.key = f"{namespace}:leaderboard:global"
        self._versions = f"{self.key}:versions"
        self._build = f"{self.key}:build"
        self._build_versions = f"{self.key}:build:versions"
        self._lock = f"{self.key}:build:lock"
        self._built = f"{self.key}:built"
        self._batch_size = batch_size
        self._retry_delays = retry_delays
        self._apply: AsyncScript = self._redis.register_script(_APPLY)
        self._begin: AsyncScript = self._redis.register_script(_BEGIN)
        self._load: AsyncScript = self._redis.register_script(_LOAD)
        self._finish: AsyncScript = self._redis.register_script(_FINISH)
        self._count: AsyncScript = self._redis.register_script(_COUNT)
        self._ready = False  # the live set is complete and this process missed no change since it was built
        self._generation = 0  # bumped by every missed change; a rebuild that overlapped one is not enough
        self._repair: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def ready(self) -> bool:
        """True while ranks come from Redis; False while PostgreSQL answers (Redis down, or rebuilding)."""
        return self._ready

    # lifecycle -------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild from PostgreSQL. If Redis is unreachable, start on PostgreSQL and keep retrying in the background."""
        try:
            await self.rebuild()
        except (*_FAILURES, LeaderboardUnbuilt) as error:
            self._degrade(f"could not build the leaderboard set at start: {error!r}")

    def start_in_background(self) -> None:
        """Build the set without holding up startup: PostgreSQL answers ranks exactly until it is ready."""
        self._repair = asyncio.get_running_loop().create_task(self._initial_build(), name="leaderboard-build")

    async def _initial_build(self) -> None:
        try:
            await self.rebuild()
        except (*_FAILURES, LeaderboardUnbuilt) as error:
            self._repair = None  # let _degrade start the retrying repair loop
            self._degrade(f"could not build the leaderboard set at start: {error!r}")

    async def close(self) -> None:
        self._closed = True
        if self._repair is not None:
            self._repair.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._repair
        await self._redis.aclose()

    # LeaderboardIndex ------------------------------------------------------------------------------------------

    async def published(self, changes: Sequence[BalanceChange]) -> None:
        """Write committed balances to the set. Never raises: a miss marks the set stale and rebuilds it."""
        args: list[str | int] = []
        for change in changes:
            if change.old != change.new:
                args += [str(change.user_id), str(max(change.new, 0)), change.version]
        if not args:
            return
        try:
            built = await self._apply(keys=self._apply_keys(), args=args)
        except _FAILURES as error:
            self._degrade(f"could not publish {len(args) // 3} balance change(s): {error!r}")
            return
        if not built:
            self._degrade("the leaderboard set is missing (Redis restarted or was flushed)")

    async def count_above(self, balance: int) -> int:
        balance = max(0, balance)
        if not self._ready or balance >= EXACT_LIMIT:
            return await self._fallback.count_above(balance)
        try:
            count = int(await self._count(keys=[self.key, self._built], args=[balance]))
        except _FAILURES as error:
            self._degrade(f"could not read a rank: {error!r}")
            return await self._fallback.count_above(balance)
        if count < 0:
            self._degrade("the leaderboard set is missing (Redis restarted or was flushed)")
            return await self._fallback.count_above(balance)
        return count

    async def rebuild(self) -> None:
        """Rebuild the set from `wallets` into a build key, then swap it in. Raises if Redis fails meanwhile."""
        generation = self._generation
        await self._rebuild_once()
        if self._generation == generation and not self._closed:
            if not self._ready:
                log.info("leaderboard ranks come from Redis (%s)", self.key)
            self._ready = True
        else:
            self._degrade("a balance change was missed during the rebuild")

    # internals -------------------------------------------------------------------------------------------------

    def _apply_keys(self) -> list[str]:
        return [self.key, self._versions, self._build, self._build_versions, self._lock, self._built]

    async def _rebuild_once(self) -> None:
        token = uuid.uuid4().hex
        # Wait while another process rebuilds (its lock expires if it died).
        begin_keys = [self._lock, self._build, self._build_versions]
        while True:
            if await self._begin(keys=begin_keys, args=[token, BUILD_LOCK_MS]):
                break
            await asyncio.sleep(0.2)
        last_user = -(2**63)
        wallets = 0
        while True:
            rows = await self._pool.fetch(_BATCH, last_user, self._batch_size)
            if not rows:
                break
            last_user = int(rows[-1]["user_id"])
            args: list[str | int] = [token, BUILD_LOCK_MS]
            for row in rows:
                if row["balance"] > 0 or row["version"] > 0:
                    args += [str(row["user_id"]), str(row["balance"]), int(row["version"])]
            wallets += len(rows)
            if not await self._load(keys=[self._build, self._build_versions, self._lock], args=args):
                raise LeaderboardUnbuilt("the rebuild lock expired")
        keys = [self._lock, self._build, self._build_versions, self.key, self._versions, self._built]
        if not await self._finish(keys=keys, args=[token, token]):
            raise LeaderboardUnbuilt("the rebuild lock expired")
        log.info("rebuilt the leaderboard set %s from %d wallets", self.key, wallets)

    def _degrade(self, reason: str) -> None:
        self._generation += 1
        if self._ready or self._repair is None:
            log.warning("leaderboard: %s; ranks come from PostgreSQL until the Redis set is rebuilt", reason)
        self._ready = False
        if not self._closed and (self._repair is None or self._repair.done()):
            self._repair = asyncio.get_running_loop().create_task(self._repair_loop(), name="leaderboard-rebuild")

    async def _repair_loop(self) -> None:
        delay, longest = self._retry_delays
        while not self._closed and not self._ready:
            await asyncio.sleep(delay)
            generation = self._generation
            try:
                await self._rebuild_once()
            except Exception as error:
                log.info("leaderboard rebuild failed (%r); retrying in %.0f s", error, min(delay * 2, longest))
                delay = min(delay * 2, longest)
                continue
            if self._generation == generation and not self._closed:
                log.info("leaderboard ranks come from Redis again (%s)", self.key)
                self._ready = True
