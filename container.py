"""The composition root: which implementation backs which protocol. Built from Settings.

Only the entrypoint, the bot factory and tests import this module. Extensions get what they need through
lightbulb's DI, fed from here by `hanabi.wiring.register_dependencies`.

redis-py is imported only where a Redis client is made or a Redis error caught, never at module level: without
REDIS_URL the bot never loads it (about 90 ms of startup). tests/unit/test_startup_imports.py checks this.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from dependency_injector import containers, providers

from hanabi.clients import compose as integrations  # integrations (issue 7)
from hanabi.clients.http import Upstream  # integrations (issue 7)
from hanabi.clients.weather import OpenMeteoClient  # integrations (issue 7)
from hanabi.clients.wiki import WikipediaClient  # integrations (issue 7)
from hanabi.config import Settings
from hanabi.infra.clock import SystemClock
from hanabi.infra.cluster import Cluster, LocalCluster, RedisCluster
from hanabi.infra.db import Database, open_database
from hanabi.infra.events import EventBus, LocalEventBus, RedisEventBus
from hanabi.infra.lavalink import LavalinkBackend  # music (issue 6)
from hanabi.infra.metrics import Metrics
from hanabi.repositories.dashboard import DashboardRepository  # dashboard (issue 13)
from hanabi.repositories.guild_settings import GuildSettingsRepository
from hanabi.repositories.leaderboard import LeaderboardIndex, PostgresLeaderboardIndex  # economy (issue 3)
from hanabi.repositories.ledger import LedgerRepository  # economy (issue 3)
from hanabi.repositories.moderation import ModerationRepository  # moderation (issue 8)
from hanabi.repositories.music import MusicRepository  # music (issue 6)
from hanabi.repositories.polls import PollsRepository
from hanabi.repositories.schedules import ScheduleRepository
from hanabi.repositories.shop import ShopRepository  # economy (issue 3)
from hanabi.repositories.wallets import WalletRepository  # economy (issue 3)
from hanabi.services.automod import AutomodEngine  # moderation (issue 8)
from hanabi.services.economy import EconomyConfig, EconomyService  # economy (issue 3)
from hanabi.services.guild_settings import GuildSettingsService
from hanabi.services.integrations import (  # integrations (issue 7)
    CachedLookups,
    Cooldowns,
    TranslationService,
    WeatherService,
    WikiService,
)
from hanabi.services.moderation import ModerationService  # moderation (issue 8)
from hanabi.services.music import MusicOptions, MusicService  # music (issue 6)
from hanabi.services.polls import PollService
from hanabi.services.scheduler import SchedulerService
from hanabi.ui.cooldowns import CommandCooldowns, Cooldown  # moderation (issue 8)
from hanabi.ui.permissions import StandingCache  # moderation (issue 8)
from hanabi.web.actions import DJ_ROLE_TOPIC, Services  # dashboard (issue 13)
from hanabi.web.sessions import PostgresSessionStore, RedisSessionStore, SessionStore  # dashboard (issue 13)


async def _database(settings: Settings) -> AsyncIterator[Database]:
    url = settings.database_url.get_secret_value() if settings.database_url else None
    async for database in open_database(
        url, settings.data_dir, min_size=settings.db_pool_min, max_size=settings.db_pool_max
    ):
        yield database


async def _event_bus(settings: Settings) -> AsyncIterator[EventBus]:
    if settings.redis_url is None:
        yield LocalEventBus()
        return
    bus = RedisEventBus(settings.redis_url.get_secret_value(), channel_prefix=f"{settings.redis_namespace}:bus:")
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()


async def _cluster(settings: Settings) -> AsyncIterator[Cluster]:
    if settings.redis_url is None:
        yield LocalCluster()
        return
    cluster = RedisCluster(settings.redis_url.get_secret_value(), prefix=f"{settings.redis_namespace}:cluster:")
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.close()


async def _http_session() -> AsyncIterator[aiohttp.ClientSession]:
    session = aiohttp.ClientSession(headers={"User-Agent": "Hanabi (https://github.com/hanabi-bot/hanabi)"})
    try:
        yield session
    finally:
        await session.close()


def _music_options(settings: Settings) -> MusicOptions:  # music (issue 6)
    return MusicOptions(
        search_prefix=settings.music_search_prefix,
        folder=settings.music_folder,
        node_folder=settings.music_node_folder,
        playlist_cap=settings.music_playlist_cap,
        idle_timeout=settings.music_idle_timeout,
        alone_timeout=settings.music_alone_timeout,
        sweep_interval=settings.music_sweep_interval,
    )


async def _music(service: MusicService, database: Database) -> AsyncIterator[MusicService]:  # music (issue 6)
    # `database` is a direct dependency only so that shutdown saves the players before the pool closes.
    await service.start()
    try:
        yield service
    finally:
        await service.close()


async def _leaderboard_index(settings: Settings, database: Database) -> AsyncIterator[LeaderboardIndex]:  # economy
    """PostgreSQL buckets; with Redis, a sorted set built from PostgreSQL in the background (PostgreSQL answers
    until it is ready, and whenever Redis cannot)."""
    postgres = PostgresLeaderboardIndex(database)
    # The Redis index stages into PostgreSQL too (its fallback and source of truth), so the deltas fold either way.
    folding = asyncio.create_task(postgres.fold_forever(), name="hanabi-leaderboard-fold")
    try:
        if settings.redis_url is None:
            yield postgres
            return
        from hanabi.repositories.leaderboard_redis import RedisLeaderboardIndex

        index = RedisLeaderboardIndex(
            settings.redis_url.get_secret_value(), database, namespace=settings.redis_namespace, fallback=postgres
        )
        index.start_in_background()
        try:
            yield index
        finally:
            await index.close()
    finally:
        folding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await folding


def _build_dashboard(**parts: Any) -> Any:  # dashboard (issue 13)
    # Imported on use: templates, Jinja2 and YAML load only when the dashboard is on (about 60 ms of startup).
    from hanabi.web.server import build_dashboard

    return build_dashboard(**parts)


async def _dashboard_sessions(  # dashboard (issue 13)
    settings: Settings, repository: DashboardRepository
) -> AsyncIterator[SessionStore]:
    """Sessions in Redis when REDIS_URL is set, else in PostgreSQL (table dashboard_sessions)."""
    if settings.redis_url is None:
        yield PostgresSessionStore(repository)
        return
    store = RedisSessionStore(settings.redis_url.get_secret_value(), settings.redis_namespace)
    try:
        yield store
    finally:
        await store.close()


async def _dashboard_sync(bus: EventBus, music: MusicService) -> AsyncIterator[None]:  # dashboard (issue 13)
    """In every process: a DJ role changed from the dashboard (maybe in another process) drops the cached one."""

    async def forget(payload: dict[str, object]) -> None:
        music.forget_dj_role(int(str(payload["guild_id"])))

    bus.subscribe(DJ_ROLE_TOPIC, forget)
    yield None


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    # infrastructure
    clock = providers.Singleton(SystemClock)
    metrics = providers.Singleton(Metrics)
    event_bus = providers.Resource(_event_bus, settings=settings)
    cluster = providers.Resource(_cluster, settings=settings)
    database = providers.Resource(_database, settings=settings)
    http_session = providers.Resource(_http_session)

    # repositories
    guild_settings_repository = providers.Singleton(GuildSettingsRepository, database=database)

    # services
    guild_settings_service = providers.Singleton(
        GuildSettingsService,
        repository=guild_settings_repository,
        bus=event_bus,
        default_prefix=settings.provided.command_prefix,
        clock=clock,
    )

    # --- economy (issue 3) ---
    economy_config = providers.Singleton(
        EconomyConfig,
        currency_name=settings.provided.economy_currency_name,
        currency_symbol=settings.provided.economy_currency_symbol,
        daily_base=settings.provided.economy_daily_base,
        daily_streak_bonus=settings.provided.economy_daily_streak_bonus,
        daily_streak_cap=settings.provided.economy_daily_streak_cap,
        timezone=settings.provided.economy_timezone,
        transfer_cap=settings.provided.economy_transfer_cap,
        owner_ids=providers.Callable(frozenset, settings.provided.owner_ids),
    )
    # The global rank index: a Redis sorted set when REDIS_URL is set (rebuilt on start), else PostgreSQL buckets.
    leaderboard_index = providers.Resource(_leaderboard_index, settings=settings, database=database)
    wallet_repository = providers.Singleton(WalletRepository, database=database, index=leaderboard_index)
    ledger_repository = providers.Singleton(LedgerRepository, database=database)
    shop_repository = providers.Singleton(ShopRepository, database=database, index=leaderboard_index)
    economy_service = providers.Singleton(
        EconomyService,
        wallets=wallet_repository,
        ledger=ledger_repository,
        shop=shop_repository,
        index=leaderboard_index,
        clock=clock,
        config=economy_config,
    )

    # --- polls and help (issue 4) ---
    polls_repository = providers.Singleton(PollsRepository, database=database)
    poll_service = providers.Singleton(PollService, repository=polls_repository, clock=clock)

    # --- scheduler (issue 5) ---
    schedule_repository = providers.Singleton(ScheduleRepository, database=database)
    scheduler_service = providers.Singleton(
        SchedulerService,
        repository=schedule_repository,
        guild_settings=guild_settings_service,
        clock=clock,
        poll_seconds=settings.provided.scheduler_poll_seconds,
        metrics=metrics,
    )

    # --- music (issue 6) ---
    music_backend = providers.Singleton(LavalinkBackend, settings=settings)
    music_repository = providers.Singleton(MusicRepository, database=database)
    music_service = providers.Singleton(
        MusicService,
        backend=music_backend,
        repository=music_repository,
        clock=clock,
        options=providers.Callable(_music_options, settings=settings),
    )
    music = providers.Resource(_music, service=music_service, database=database)

    # --- integrations (issue 7) ---
    # Redis when REDIS_URL is set (shared cache and quota counters), else in-process cache + PostgreSQL counters.
    integrations_redis = providers.Resource(integrations.open_integrations_redis, settings=settings)
    integrations_cache = providers.Singleton(
        integrations.make_cache,
        redis=integrations_redis,
        clock=clock,
        max_entries=settings.provided.integrations_cache_size,
        namespace=settings.provided.redis_namespace,
    )
    translation_quota = providers.Singleton(
        integrations.make_quota_store,
        redis=integrations_redis,
        database=database,
        namespace=settings.provided.redis_namespace,
    )
    upstream_policy = providers.Singleton(integrations.http_policy, settings=settings)
    weather_client = providers.Singleton(
        OpenMeteoClient,
        upstream=providers.Factory(
            Upstream, "weather", "weather service", http_session, upstream_policy, clock=clock, metrics=metrics
        ),
        geocoding_url=settings.provided.geocoding_api_url,
        forecast_url=settings.provided.weather_api_url,
    )
    wiki_client = providers.Singleton(
        WikipediaClient,
        upstream=providers.Factory(
            Upstream, "wikipedia", "Wikipedia service", http_session, upstream_policy, clock=clock, metrics=metrics
        ),
        base_url=settings.provided.wiki_api_url,
    )
    translators = providers.Singleton(
        integrations.make_translators, settings=settings, session=http_session, clock=clock, metrics=metrics
    )
    integrations_cooldowns = providers.Singleton(
        Cooldowns, clock=clock, seconds=settings.provided.integrations_cooldown_seconds
    )
    cached_lookups = providers.Singleton(CachedLookups, cache=integrations_cache, metrics=metrics)
    weather_service = providers.Singleton(
        WeatherService, client=weather_client, lookups=cached_lookups, cooldowns=integrations_cooldowns
    )
    wiki_service = providers.Singleton(
        WikiService, client=wiki_client, lookups=cached_lookups, cooldowns=integrations_cooldowns
    )
    translation_service = providers.Singleton(
        TranslationService,
        translators=translators,
        lookups=cached_lookups,
        cooldowns=integrations_cooldowns,
        clock=clock,
        quota=translation_quota,
        daily_quota=settings.provided.translate_daily_quota,
    )

    # --- moderation (issue 8) ---
    automod_engine = providers.Singleton(
        AutomodEngine, clock=clock, max_members=settings.provided.automod_max_tracked_members
    )
    automod_standings = providers.Singleton(StandingCache, clock=clock)
    moderation_repository = providers.Singleton(ModerationRepository, database=database)
    moderation_service = providers.Singleton(
        ModerationService, repository=moderation_repository, engine=automod_engine, bus=event_bus
    )
    command_cooldowns = providers.Singleton(
        CommandCooldowns,
        clock=clock,
        default=providers.Factory(
            Cooldown, uses=settings.provided.command_cooldown_uses, per=settings.provided.command_cooldown_seconds
        ),
        exempt_user_ids=settings.provided.owner_ids,
    )

    # --- dashboard (issue 13) ---
    # Built only when the dashboard is enabled (settings.dashboard_enabled): in the bot (WEB_IN_BOT) or standalone.
    dashboard_repository = providers.Singleton(DashboardRepository, database=database)
    dashboard_session_store = providers.Resource(
        _dashboard_sessions, settings=settings, repository=dashboard_repository
    )
    dashboard_services = providers.Singleton(
        Services,
        guild_settings=guild_settings_service,
        economy=economy_service,
        polls=poll_service,
        scheduler=scheduler_service,
        moderation=moderation_service,
        music=music_service,
        repository=dashboard_repository,
        bus=event_bus,
    )
    dashboard = providers.Singleton(
        _build_dashboard,
        settings=settings,
        services=dashboard_services,
        store=dashboard_session_store,
        http=http_session,
        clock=clock,
    )
    dashboard_sync = providers.Resource(_dashboard_sync, bus=event_bus, music=music_service)
