"""Per-server settings rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from hanabi.infra.db import Database

_COLUMNS = "guild_id, prefix, locale, timezone, modlog_channel_id, created_at, updated_at"
EDITABLE = frozenset({"prefix", "locale", "timezone", "modlog_channel_id"})


@dataclass(frozen=True, slots=True)
class GuildSettingsRow:
    guild_id: int
    prefix: str | None = None
    locale: str | None = None
    timezone: str | None = None
    modlog_channel_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> GuildSettingsRow:
        return cls(**dict(record))


class GuildSettingsRepository:
    def __init__(self, database: Database) -> None:
        self._pool = database.pool

    async def get(self, guild_id: int) -> GuildSettingsRow | None:
        record = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM guild_settings WHERE guild_id = $1", guild_id)
        return GuildSettingsRow.from_record(record) if record else None

    async def update(self, guild_id: int, changes: dict[str, object]) -> GuildSettingsRow:
        unknown = set(changes) - EDITABLE
        if unknown:
            raise ValueError(f"not editable: {sorted(unknown)}")
        columns = sorted(changes)
        # Column names come from the EDITABLE allowlist above, never from user input.
        assignments = ", ".join(f"{col} = EXCLUDED.{col}" for col in columns)
        placeholders = ", ".join(f"${i + 2}" for i in range(len(columns)))
        query = (
            f"INSERT INTO guild_settings (guild_id{''.join(', ' + c for c in columns)}) "
            f"VALUES ($1{', ' if columns else ''}{placeholders}) "
            f"ON CONFLICT (guild_id) DO UPDATE SET {assignments}{', ' if columns else ''}updated_at = now() "
            f"RETURNING {_COLUMNS}"
        )
        record = await self._pool.fetchrow(query, guild_id, *(changes[c] for c in columns))
        if record is None:
            raise RuntimeError("upsert returned no row")
        return GuildSettingsRow.from_record(record)
