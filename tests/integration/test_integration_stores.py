"""The shared cache and the translation quota counters against real Redis and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest
import redis.asyncio as redis_asyncio

from hanabi.infra.cache import RedisCache
from hanabi.infra.db import open_database
from hanabi.infra.quota import RedisQuotaStore
from hanabi.repositories.translation_quota import PostgresQuotaStore

DAY = date(2026, 1, 15)


@pytest.mark.asyncio
async def test_redis_cache_round_trip_and_expiry(redis_url: str) -> None:
    client = redis_asyncio.Redis.from_url(redis_url)
    prefix = f"test:{uuid.uuid4().hex}:"
    try:
        cache = RedisCache(client, prefix=prefix)
        await cache.set("wiki:summary:en:ada", '{"title": "Ada"}', ttl=60)
        assert await cache.get("wiki:summary:en:ada") == '{"title": "Ada"}'
        assert 0 < await client.pttl(prefix + "wiki:summary:en:ada") <= 60_000
        assert await cache.get("missing") is None
    finally:
        await client.delete(prefix + "wiki:summary:en:ada")
        await client.aclose()


@pytest.mark.asyncio
async def test_redis_cache_failure_is_a_miss() -> None:
    client = redis_asyncio.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        cache = RedisCache(client)
        assert await cache.get("anything") is None
        await cache.set("anything", "x", ttl=1)  # logged, not raised
    finally:
        await client.aclose()


@pytest.mark.asyncio
async def test_redis_quota_counts_up_to_the_limit_and_refunds(redis_url: str) -> None:
    client = redis_asyncio.Redis.from_url(redis_url)
    store = RedisQuotaStore(client, prefix=f"test:{uuid.uuid4().hex}:")
    try:
        assert await store.consume("guild:1", DAY, 2)
        assert await store.consume("guild:1", DAY, 2)
        assert not await store.consume("guild:1", DAY, 2)
        assert await store.used("guild:1", DAY) == 2
        await store.refund("guild:1", DAY)
        assert await store.consume("guild:1", DAY, 2)
        assert await store.consume("guild:2", DAY, 2)  # another server has its own count
    finally:
        await client.aclose()


@pytest.mark.asyncio
async def test_postgres_quota_counts_up_to_the_limit_and_refunds(database_url: str, tmp_path: Path) -> None:
    async for database in open_database(database_url, tmp_path, min_size=1, max_size=2):
        store = PostgresQuotaStore(database)
        assert await store.consume("guild:1", DAY, 2)
        assert await store.consume("guild:1", DAY, 2)
        assert not await store.consume("guild:1", DAY, 2)
        assert await store.used("guild:1", DAY) == 2
        await store.refund("guild:1", DAY)
        assert await store.used("guild:1", DAY) == 1
        assert await store.consume("guild:1", date(2026, 1, 16), 2)  # a new day starts from zero
        assert await store.forget_before(date(2026, 1, 16)) == 1
