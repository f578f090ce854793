"""The composition root: which implementation backs which protocol. Built from Settings.

Only the entrypoint, the bot factory and tests import this module. Extensions get what they need through
lightbulb's DI, fed from here by `hanabi.wiring.register_dependencies`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from dependency_injector import containers, providers

from hanabi.config import Settings
from hanabi.infra.clock import SystemClock
from hanabi.infra.db import Database, open_database
from hanabi.infra.events import LocalEventBus
from hanabi.infra.metrics import Metrics
from hanabi.repositories.guild_settings import GuildSettingsRepository
from hanabi.services.guild_settings import GuildSettingsService


async def _database(settings: Settings) -> AsyncIterator[Database]:
    url = settings.database_url.get_secret_value() if settings.database_url else None
    async for database in open_database(
        url, settings.data_dir, min_size=settings.db_pool_min, max_size=settings.db_pool_max
    ):
        yield database


async def _http_session() -> AsyncIterator[aiohttp.ClientSession]:
    session = aiohttp.ClientSession(headers={"User-Agent": "Hanabi (https://github.com/hanabi-bot/hanabi)"})
    try:
        yield session
    finally:
        await session.close()


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    # infrastructure
    clock = providers.Singleton(SystemClock)
    metrics = providers.Singleton(Metrics)
    event_bus = providers.Singleton(LocalEventBus)
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
    )

    # --- economy (issue 3) ---

    # --- polls and help (issue 4) ---

    # --- scheduler (issue 5) ---

    # --- music (issue 6) ---

    # --- integrations (issue 7) ---

    # --- moderation (issue 8) ---
