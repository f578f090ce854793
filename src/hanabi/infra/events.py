"""The event bus between parts of one process (and, with Redis, between processes)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

Handler = Callable[[dict[str, Any]], Awaitable[None]]

log = logging.getLogger(__name__)


class EventBus(Protocol):
    kind: str

    async def publish(self, topic: str, payload: dict[str, Any]) -> None: ...

    def subscribe(self, topic: str, handler: Handler) -> None: ...


class LocalEventBus:
    """In-process bus: handlers run as tasks so a slow or failing handler never blocks the publisher."""

    kind = "local"

    def __init__(self) -> None:
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        for handler in self._handlers.get(topic, ()):
            task = asyncio.create_task(self._run(topic, handler, payload))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic].append(handler)

    @staticmethod
    async def _run(topic: str, handler: Handler, payload: dict[str, Any]) -> None:
        try:
            await handler(payload)
        except Exception:
            log.exception("event handler for %s failed", topic)
