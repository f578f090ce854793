"""What the other bot processes are doing: shard status with a heartbeat TTL, and identify coordination.

With Redis, every process writes its status under its own key with a TTL (a process that dies simply
expires), and takes a per-bucket lock before each IDENTIFY so a fleet starting at once stays within
Discord's `max_concurrency` identifies per 5 seconds. Without Redis there is one process and hikari's own
startup windows are enough.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
STATUS_TTL_SECONDS = 30
IDENTIFY_WINDOW_MS = 5_500  # Discord's window is 5 s; a little margin for clock and network jitter


@dataclass(frozen=True, slots=True)
class ShardStatus:
    shard_id: int
    state: str  # "ready", "connecting", "disconnected"
    latency_ms: float | None
    guilds: int


@dataclass(frozen=True, slots=True)
class ProcessStatus:
    process_id: str
    hostname: str
    pid: int
    shard_count: int
    shards: list[ShardStatus] = field(default_factory=list)
    updated_at: float = 0.0

    @property
    def guilds(self) -> int:
        return sum(shard.guilds for shard in self.shards)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> ProcessStatus:
        raw = json.loads(text)
        shards = [ShardStatus(**shard) for shard in raw.pop("shards", [])]
        return cls(shards=shards, **raw)


def new_process_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Cluster(Protocol):
    kind: str
    process_id: str

    async def report(self, status: ProcessStatus) -> None: ...

    async def snapshot(self) -> list[ProcessStatus]: ...

    def identify_slot(self, bucket: int) -> contextlib.AbstractAsyncContextManager[None]: ...


class LocalCluster:
    """One process: the snapshot is our own status; identify pacing is left to hikari."""

    kind = "local"

    def __init__(self) -> None:
        self.process_id = new_process_id()
        self._status: ProcessStatus | None = None

    async def report(self, status: ProcessStatus) -> None:
        self._status = status

    async def snapshot(self) -> list[ProcessStatus]:
        return [self._status] if self._status is not None else []

    @contextlib.asynccontextmanager
    async def identify_slot(self, bucket: int) -> AsyncIterator[None]:
        yield


class RedisCluster:
    kind = "redis"

    def __init__(self, url: str, *, prefix: str = "hanabi:cluster:") -> None:
        import redis.asyncio as redis_asyncio

        self.process_id = new_process_id()
        self._prefix = prefix
        self._redis = redis_asyncio.from_url(url, socket_connect_timeout=5)

    async def start(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        from redis.exceptions import RedisError

        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(self._status_key(self.process_id))
        await self._redis.aclose()

    def _status_key(self, process_id: str) -> str:
        return f"{self._prefix}process:{process_id}"

    async def report(self, status: ProcessStatus) -> None:
        from redis.exceptions import RedisError

        try:
            await self._redis.set(self._status_key(status.process_id), status.to_json(), ex=STATUS_TTL_SECONDS)
        except (RedisError, OSError) as error:
            log.warning("could not report cluster status: %s", error)

    async def snapshot(self) -> list[ProcessStatus]:
        from redis.exceptions import RedisError

        try:
            keys = [key async for key in self._redis.scan_iter(match=f"{self._prefix}process:*", count=100)]
            values = await self._redis.mget(keys) if keys else []
        except (RedisError, OSError) as error:
            log.warning("could not read cluster status: %s", error)
            return []
        statuses = [ProcessStatus.from_json(value) for value in values if value]
        return sorted(statuses, key=lambda s: min((sh.shard_id for sh in s.shards), default=-1))

    @contextlib.asynccontextmanager
    async def identify_slot(self, bucket: int) -> AsyncIterator[None]:
        """Wait until this bucket had no IDENTIFY anywhere in the fleet for a window; the lock then expires."""
        from redis.exceptions import RedisError

        key = f"{self._prefix}identify:{bucket}"
        started = time.monotonic()
        while True:
            try:
                if await self._redis.set(key, self.process_id, nx=True, px=IDENTIFY_WINDOW_MS):
                    break
            except (RedisError, OSError) as error:
                # Without Redis we cannot coordinate; identifying anyway risks at most one 429 from Discord.
                log.warning("identify lock unavailable (%s); identifying without it", error)
                break
            await asyncio.sleep(0.1)
        waited = time.monotonic() - started
        if waited > 0.2:
            log.info("waited %.1fs for identify bucket %d", waited, bucket)
        yield
