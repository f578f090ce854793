"""Music players, their queues, per-server music settings and Lavalink session ids."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from hanabi.infra.db import Database
from hanabi.infra.lavalink import Track

_ENTRY_COLUMNS = (
    "guild_id",
    "slot",
    "is_current",
    "encoded",
    "title",
    "author",
    "uri",
    "artwork_url",
    "source",
    "identifier",
    "length_ms",
    "is_stream",
    "is_seekable",
    "requester_id",
    "failures",
)


@dataclass(slots=True)
class QueueEntry:
    """One track in a server's queue and who asked for it. `failures` counts how often it failed to play."""

    track: Track
    requester_id: int
    failures: int = 0


@dataclass(slots=True)
class SavedPlayer:
    guild_id: int
    voice_channel_id: int
    text_channel_id: int
    loop_mode: str = "off"
    volume: int = 100
    paused: bool = False
    position_ms: int = 0
    current: QueueEntry | None = None
    upcoming: list[QueueEntry] = field(default_factory=list)


def _entry_from_record(record: asyncpg.Record) -> QueueEntry:
    track = Track(
        encoded=record["encoded"],
        title=record["title"],
        author=record["author"],
        length_ms=record["length_ms"],
        uri=record["uri"],
        artwork_url=record["artwork_url"],
        source=record["source"],
        identifier=record["identifier"],
        is_stream=record["is_stream"],
        is_seekable=record["is_seekable"],
    )
    return QueueEntry(track=track, requester_id=record["requester_id"], failures=record["failures"])


class MusicRepository:
    def __init__(self, database: Database) -> None:
        self._pool = database.pool

    async def load_players(self) -> list[SavedPlayer]:
        async with self._pool.acquire() as conn:
            players = await conn.fetch(
                "SELECT guild_id, voice_channel_id, text_channel_id, loop_mode, volume, paused, position_ms "
                "FROM music_players ORDER BY guild_id"
            )
            entries = await conn.fetch(
                f"SELECT {', '.join(_ENTRY_COLUMNS)} FROM music_queue_entries ORDER BY guild_id, slot"
            )
        saved = {row["guild_id"]: SavedPlayer(**dict(row)) for row in players}
        for record in entries:
            player = saved.get(record["guild_id"])
            if player is None:
                continue
            entry = _entry_from_record(record)
            if record["is_current"]:
                player.current = entry
            else:
                player.upcoming.append(entry)
        return list(saved.values())

    async def save_player(self, player: SavedPlayer) -> None:
        """Replace the stored player and its whole queue in one transaction."""
        rows = []
        slots = ([player.current] if player.current is not None else []) + player.upcoming
        for slot, entry in enumerate(slots, start=0 if player.current is not None else 1):
            track = entry.track
            rows.append(
                (
                    player.guild_id,
                    slot,
                    entry is player.current,
                    track.encoded,
                    track.title,
                    track.author,
                    track.uri,
                    track.artwork_url,
                    track.source,
                    track.identifier,
                    track.length_ms,
                    track.is_stream,
                    track.is_seekable,
                    entry.requester_id,
                    entry.failures,
                )
            )
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """
                INSERT INTO music_players
                    (guild_id, voice_channel_id, text_channel_id, loop_mode, volume, paused, position_ms, updated_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, now())
                ON CONFLICT (guild_id) DO UPDATE SET
                    voice_channel_id = EXCLUDED.voice_channel_id, text_channel_id = EXCLUDED.text_channel_id,
                    loop_mode = EXCLUDED.loop_mode, volume = EXCLUDED.volume, paused = EXCLUDED.paused,
                    position_ms = EXCLUDED.position_ms, updated_at = now()
                """,
                player.guild_id,
                player.voice_channel_id,
                player.text_channel_id,
                player.loop_mode,
                player.volume,
                player.paused,
                max(0, player.position_ms),
            )
            await conn.execute("DELETE FROM music_queue_entries WHERE guild_id = $1", player.guild_id)
            if rows:
                await conn.copy_records_to_table("music_queue_entries", records=rows, columns=list(_ENTRY_COLUMNS))

    async def save_position(self, guild_id: int, position_ms: int, paused: bool) -> None:
        await self._pool.execute(
            "UPDATE music_players SET position_ms = $2, paused = $3, updated_at = now() WHERE guild_id = $1",
            guild_id,
            max(0, position_ms),
            paused,
        )

    async def delete_player(self, guild_id: int) -> None:
        await self._pool.execute("DELETE FROM music_players WHERE guild_id = $1", guild_id)

    async def dj_role(self, guild_id: int) -> int | None:
        value = await self._pool.fetchval("SELECT dj_role_id FROM music_settings WHERE guild_id = $1", guild_id)
        return int(value) if value is not None else None

    async def set_dj_role(self, guild_id: int, role_id: int | None) -> None:
        await self._pool.execute(
            """
            INSERT INTO music_settings (guild_id, dj_role_id) VALUES ($1, $2)
            ON CONFLICT (guild_id) DO UPDATE SET dj_role_id = EXCLUDED.dj_role_id, updated_at = now()
            """,
            guild_id,
            role_id,
        )

    async def node_sessions(self) -> dict[str, str]:
        rows = await self._pool.fetch("SELECT node_key, session_id FROM music_node_sessions")
        return {row["node_key"]: row["session_id"] for row in rows}

    async def save_node_session(self, node_key: str, session_id: str) -> None:
        await self._pool.execute(
            """
            INSERT INTO music_node_sessions (node_key, session_id) VALUES ($1, $2)
            ON CONFLICT (node_key) DO UPDATE SET session_id = EXCLUDED.session_id, updated_at = now()
            """,
            node_key,
            session_id,
        )
