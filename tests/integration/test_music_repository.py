"""Music persistence against a real PostgreSQL: queues round-trip, and the schema backs the service's rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from hanabi.infra.db import Database, open_database
from hanabi.infra.lavalink import Track
from hanabi.repositories.music import MusicRepository, QueueEntry, SavedPlayer


@pytest_asyncio.fixture
async def database(database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    async for db in open_database(database_url, tmp_path):
        yield db


def entry(title: str, requester: int = 7, **track: object) -> QueueEntry:
    return QueueEntry(Track(encoded=f"enc-{title}", title=title, author="A", length_ms=1000, **track), requester)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_player_and_queue_round_trip_in_order(database: Database) -> None:
    repo = MusicRepository(database)
    player = SavedPlayer(
        guild_id=1,
        voice_channel_id=2,
        text_channel_id=3,
        loop_mode="queue",
        volume=70,
        paused=True,
        position_ms=61_000,
        current=entry(
            "now", uri="https://x.test/now", artwork_url="https://x.test/a.png", source="http", identifier="now-1"
        ),
        upcoming=[entry(f"next {n}", requester=n) for n in range(5)],
    )
    player.current.failures = 2  # type: ignore[union-attr]
    await repo.save_player(player)
    (loaded,) = await repo.load_players()
    assert loaded == player

    player.current = None
    player.upcoming = player.upcoming[3:]
    await repo.save_player(player)
    await repo.save_position(1, 0, paused=False)
    (loaded,) = await repo.load_players()
    assert loaded.current is None
    assert [e.track.title for e in loaded.upcoming] == ["next 3", "next 4"]
    assert not loaded.paused

    await repo.delete_player(1)
    assert await repo.load_players() == []
    async with database.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM music_queue_entries") == 0


@pytest.mark.asyncio
async def test_schema_refuses_what_the_service_refuses(database: Database) -> None:
    repo = MusicRepository(database)
    with pytest.raises(asyncpg.CheckViolationError):
        await repo.save_player(SavedPlayer(guild_id=1, voice_channel_id=2, text_channel_id=3, volume=151))
    with pytest.raises(asyncpg.CheckViolationError):
        await repo.save_player(SavedPlayer(guild_id=1, voice_channel_id=2, text_channel_id=3, loop_mode="forever"))


@pytest.mark.asyncio
async def test_dj_role_and_node_sessions(database: Database) -> None:
    repo = MusicRepository(database)
    assert await repo.dj_role(5) is None
    await repo.set_dj_role(5, 99)
    assert await repo.dj_role(5) == 99
    await repo.set_dj_role(5, None)
    assert await repo.dj_role(5) is None
    await repo.save_node_session("main@all", "abc")
    await repo.save_node_session("main@all", "def")
    assert await repo.node_sessions() == {"main@all": "def"}
