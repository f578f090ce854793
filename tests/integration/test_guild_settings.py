from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from hanabi.errors import InvalidInput
from hanabi.infra.db import Database, open_database
from hanabi.infra.events import LocalEventBus
from hanabi.repositories.guild_settings import GuildSettingsRepository
from hanabi.services.guild_settings import GuildSettingsService


@pytest_asyncio.fixture
async def database(database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    async for db in open_database(database_url, tmp_path):
        yield db


@pytest.mark.asyncio
async def test_defaults_then_update_then_cached_read(database: Database) -> None:
    repo = GuildSettingsRepository(database)
    service = GuildSettingsService(repo, LocalEventBus(), default_prefix="!")
    before = await service.get(42)
    assert (before.prefix, before.timezone, before.modlog_channel_id) == ("!", "UTC", None)

    updated = await service.update(42, prefix="h!", timezone="Europe/Berlin")
    assert (updated.prefix, updated.timezone) == ("h!", "Europe/Berlin")
    assert (await service.get(42)).prefix == "h!"
    row = await repo.get(42)
    assert row is not None
    assert row.prefix == "h!"


@pytest.mark.asyncio
async def test_write_through_one_service_invalidates_another_on_the_same_bus(database: Database) -> None:
    bus = LocalEventBus()
    first = GuildSettingsService(GuildSettingsRepository(database), bus, default_prefix="!")
    second = GuildSettingsService(GuildSettingsRepository(database), bus, default_prefix="!")
    assert (await second.get(7)).prefix == "!"  # cached in `second`
    await first.update(7, prefix="?")
    for _ in range(50):  # bus handlers run as tasks
        if (await second.get(7)).prefix == "?":
            break
        import asyncio

        await asyncio.sleep(0.01)
    assert (await second.get(7)).prefix == "?"


@pytest.mark.asyncio
@pytest.mark.parametrize(("field", "value"), [("prefix", "too long"), ("prefix", "a b"), ("timezone", "Mars/Olympus")])
async def test_invalid_values_are_refused_with_a_message(database: Database, field: str, value: str) -> None:
    service = GuildSettingsService(GuildSettingsRepository(database), LocalEventBus(), default_prefix="!")
    with pytest.raises(InvalidInput) as info:
        await service.update(1, **{field: value})
    assert info.value.user_message


@pytest.mark.asyncio
async def test_cached_values_expire_so_a_missed_invalidation_heals(database: Database) -> None:
    from tests.harness.clock import ManualClock

    clock = ManualClock()
    repo = GuildSettingsRepository(database)
    # Two processes whose buses are not connected: the invalidation message is "lost".
    reader = GuildSettingsService(repo, LocalEventBus(), default_prefix="!", clock=clock, ttl=60)
    writer = GuildSettingsService(repo, LocalEventBus(), default_prefix="!", clock=clock, ttl=60)
    assert (await reader.get(5)).prefix == "!"
    await writer.update(5, prefix="?")
    assert (await reader.get(5)).prefix == "!"  # stale, within the TTL
    clock.advance(seconds=61)
    assert (await reader.get(5)).prefix == "?"
