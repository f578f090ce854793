"""The event bus: in-process for one process, Redis pub/sub between shard processes.

Pub/Sub delivers at most once, so nothing may depend on a message arriving: cached values also carry a
TTL, and a process that loses its Redis connection drops its caches (`on_reconnect`) when it comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import redis.asyncio as redis_asyncio

Handler = Callable[[dict[str, Any]], Awaitable[None]]
ReconnectCallback = Callable[[], None]

log = logging.getLogger(__name__)


class EventBus(Protocol):
    kind: str

    async def publish(self, topic: str, payload: dict[str, Any]) -> None: ...

    def subscribe(self, topic: str, handler: Handler) -> None: ...

    def on_reconnect(self, callback: ReconnectCallback) -> None:
        """Called after a lost connection to the other processes is back: drop what may be stale."""
        ...


class LocalEventBus:
    """In-process bus: handlers run as tasks so a slow or failing handler never blocks the publisher."""

    kind = "local"

    def __init__(self) -> None:
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self.deliver(topic, payload)

    def deliver(self, topic: str, payload: dict[str, Any]) -> None:
        for handler in self._handlers.get(topic, ()):
            task = asyncio.create_task(self._run(topic, handler, payload))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic].append(handler)

    def on_reconnect(self, callback: ReconnectCallback) -> None:
        """A single process never loses its bus."""

    @staticmethod
    async def _run(topic: str, handler: Handler, payload: dict[str, Any]) -> None:
        try:
            await handler(payload)
        except Exception:
            log.exception("event handler for %s failed", topic)


class RedisEventBus:
    """Publishes to Redis and delivers locally at once; messages from other processes arrive via pub/sub.

    Our own messages come back from Redis too and are skipped by origin id, so a handler runs once per process.
    """

    kind = "redis"

    def __init__(self, url: str, *, channel_prefix: str = "hanabi:bus:", retry_seconds: float = 1.0) -> None:
        self._url = url
        self._prefix = channel_prefix
        self._retry_seconds = retry_seconds
        self.origin = uuid.uuid4().hex
        self._local = LocalEventBus()
        self._reconnect_callbacks: list[ReconnectCallback] = []
        self._redis: redis_asyncio.Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def start(self) -> None:
        import redis.asyncio as redis_asyncio

        self._redis = redis_asyncio.from_url(self._url, socket_connect_timeout=5, health_check_interval=10)
        await self._redis.ping()  # fail startup clearly when Redis is unreachable
        self._listener = asyncio.create_task(self._listen(), name="hanabi-redis-bus")
        await asyncio.wait_for(self.connected.wait(), 10)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._redis is not None:
            await self._redis.aclose()

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        from redis.exceptions import RedisError

        self._local.deliver(topic, payload)
        if self._redis is None:
            return
        message = json.dumps({"origin": self.origin, "payload": payload}, separators=(",", ":"))
        try:
            await self._redis.publish(self._prefix + topic, message)
        except (RedisError, OSError) as error:
            # Other processes miss this one; their TTLs and reconnect flushes bound the staleness.
            log.warning("could not publish %s to Redis: %s", topic, error)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._local.subscribe(topic, handler)

    def on_reconnect(self, callback: ReconnectCallback) -> None:
        self._reconnect_callbacks.append(callback)

    async def _listen(self) -> None:
        from redis.exceptions import RedisError

        if self._redis is None:
            return
        first = True
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(self._prefix + "*")
                if not first:
                    log.info("Redis bus reconnected; dropping local caches")
                    for callback in self._reconnect_callbacks:
                        callback()
                first = False
                self.connected.set()
                async for message in pubsub.listen():
                    if message.get("type") == "pmessage":
                        self._dispatch(message)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as error:
                self.connected.clear()
                log.warning("Redis bus connection lost (%s); retrying in %.0fs", error, self._retry_seconds)
                await asyncio.sleep(self._retry_seconds)
            finally:
                with contextlib.suppress(RedisError, OSError, RuntimeError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        topic = (channel.decode() if isinstance(channel, bytes) else str(channel)).removeprefix(self._prefix)
        try:
            envelope = json.loads(message["data"])
            origin, payload = envelope["origin"], envelope["payload"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed bus message on %s", topic)
            return
        if origin != self.origin and isinstance(payload, dict):
            self._local.deliver(topic, payload)
