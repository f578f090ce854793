from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hanabi.infra.events import LocalEventBus, RedisEventBus


async def _collect(bus: LocalEventBus | RedisEventBus, topic: str) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []

    async def handler(payload: dict[str, Any]) -> None:
        received.append(payload)

    bus.subscribe(topic, handler)
    return received


async def _eventually(check: Any, timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_local_bus_delivers_and_isolates_failing_handlers() -> None:
    bus = LocalEventBus()

    async def broken(_: dict[str, Any]) -> None:
        raise RuntimeError("handler bug")

    bus.subscribe("t", broken)
    received = await _collect(bus, "t")
    await bus.publish("t", {"n": 1})
    await _eventually(lambda: received == [{"n": 1}])


@pytest.mark.asyncio
async def test_redis_bus_reaches_the_other_process_once_and_ourselves_once(redis_url: str) -> None:
    first, second = RedisEventBus(redis_url), RedisEventBus(redis_url)
    await first.start()
    await second.start()
    try:
        mine = await _collect(first, "guild_settings.invalidate")
        theirs = await _collect(second, "guild_settings.invalidate")
        await first.publish("guild_settings.invalidate", {"guild_id": 42})
        await _eventually(lambda: theirs == [{"guild_id": 42}])
        await asyncio.sleep(0.1)  # our own echo from Redis must not be delivered a second time
        assert mine == [{"guild_id": 42}]
    finally:
        await first.close()
        await second.close()


@pytest.mark.asyncio
async def test_redis_bus_reconnects_and_asks_for_caches_to_be_dropped(redis_url: str) -> None:
    import redis.asyncio as redis_asyncio

    bus = RedisEventBus(redis_url, retry_seconds=0.1)
    flushed: list[bool] = []
    bus.on_reconnect(lambda: flushed.append(True))
    await bus.start()
    try:
        admin = redis_asyncio.from_url(redis_url)
        # Kill our pub/sub connection the way a Redis restart would.
        clients = await admin.client_list(_type="pubsub")
        for client in clients:
            await admin.client_kill_filter(_id=client["id"])
        await admin.aclose()
        await _eventually(lambda: flushed == [True], timeout=5)
        other = RedisEventBus(redis_url)
        await other.start()
        received = await _collect(bus, "x")
        await other.publish("x", {"after": "reconnect"})
        await _eventually(lambda: received == [{"after": "reconnect"}], timeout=3)
        await other.close()
    finally:
        await bus.close()
