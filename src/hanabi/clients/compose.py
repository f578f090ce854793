"""Small builders the container uses for the integrations: which cache, quota store and translators to use.

Only `container.py` calls these; they turn Settings into objects so the container section stays declarative.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aiohttp

from hanabi.clients.http import HttpPolicy, Upstream
from hanabi.clients.translate import DeepLClient, LibreTranslateClient, Translator
from hanabi.config import Settings
from hanabi.infra.cache import Cache, MemoryCache, RedisCache
from hanabi.infra.clock import Clock
from hanabi.infra.db import Database
from hanabi.infra.metrics import Metrics
from hanabi.infra.quota import QuotaStore, RedisQuotaStore
from hanabi.repositories.translation_quota import PostgresQuotaStore

if TYPE_CHECKING:
    import redis.asyncio as redis_asyncio


async def open_integrations_redis(settings: Settings) -> AsyncIterator[redis_asyncio.Redis | None]:
    """Resource: a Redis client when REDIS_URL is set (it connects lazily), else None."""
    if settings.redis_url is None:
        yield None
        return
    import redis.asyncio as redis_asyncio

    client = redis_asyncio.Redis.from_url(
        settings.redis_url.get_secret_value(), socket_connect_timeout=2, socket_timeout=2
    )
    try:
        yield client
    finally:
        await client.aclose()


def http_policy(settings: Settings) -> HttpPolicy:
    return HttpPolicy(
        connect_timeout=settings.upstream_connect_timeout,
        total_timeout=settings.upstream_total_timeout,
        max_retries=settings.upstream_max_retries,
        backoff_base=settings.upstream_backoff_seconds,
        breaker_threshold=settings.upstream_breaker_failures,
        breaker_cooldown=settings.upstream_breaker_cooldown,
    )


def make_cache(redis: redis_asyncio.Redis | None, clock: Clock, max_entries: int, namespace: str = "hanabi") -> Cache:
    if redis is None:
        return MemoryCache(clock, max_entries)
    return RedisCache(redis, prefix=f"{namespace}:integrations:cache:")


def make_quota_store(redis: redis_asyncio.Redis | None, database: Database, namespace: str = "hanabi") -> QuotaStore:
    if redis is None:
        return PostgresQuotaStore(database)
    return RedisQuotaStore(redis, prefix=f"{namespace}:integrations:quota:")


def make_translators(
    settings: Settings, session: aiohttp.ClientSession, clock: Clock, metrics: Metrics
) -> list[Translator]:
    """LibreTranslate first when TRANSLATE_API_URL is set, then DeepL when DEEPL_API_KEY is set."""
    policy = http_policy(settings)
    translators: list[Translator] = []
    if settings.translate_api_url:
        key = settings.translate_api_key.get_secret_value() if settings.translate_api_key else None
        upstream = Upstream("libretranslate", "translation service", session, policy, clock=clock, metrics=metrics)
        translators.append(LibreTranslateClient(upstream, settings.translate_api_url, key))
    if settings.deepl_api_key is not None and settings.deepl_api_key.get_secret_value():
        upstream = Upstream("deepl", "translation service", session, policy, clock=clock, metrics=metrics)
        translators.append(DeepLClient(upstream, settings.deepl_api_url, settings.deepl_api_key.get_secret_value()))
    return translators
