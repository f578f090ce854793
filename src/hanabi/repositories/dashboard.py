"""The web dashboard's own tables (migration 0008): sessions, the change log, per-server options, and the
read-only summaries its pages show that no other repository answers (recent cases, closed polls, totals)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from hanabi.infra.db import Database
from hanabi.repositories.moderation import Case

_CASE_COLUMNS = (
    "id, guild_id, user_id, moderator_id, rule, action, timeout_seconds, strike, deleted_count, channel_id, "
    "reason, evidence, created_at, cleared_at, cleared_by"
)


@dataclass(frozen=True, slots=True)
class DashboardChange:
    id: int
    guild_id: int
    user_id: int
    username: str
    action: str
    detail: str
    created_at: datetime

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> DashboardChange:
        return cls(**dict(record))


@dataclass(frozen=True, slots=True)
class EconomyTotals:
    members: int
    points: int


class DashboardRepository:
    def __init__(self, database: Database) -> None:
        self._pool = database.pool

    # sessions ------------------------------------------------------------------------------------------------------

    async def load_session(self, id_hash: str, now: datetime) -> dict[str, Any] | None:
        data = await self._pool.fetchval(
            "SELECT data FROM dashboard_sessions WHERE id_hash = $1 AND expires_at > $2", id_hash, now
        )
        if data is None:
            return None
        loaded = json.loads(data) if isinstance(data, str) else data
        return dict(loaded) if isinstance(loaded, dict) else None

    async def save_session(self, id_hash: str, data: dict[str, Any], expires_at: datetime) -> None:
        await self._pool.execute(
            "INSERT INTO dashboard_sessions (id_hash, data, expires_at) VALUES ($1, $2::jsonb, $3) "
            "ON CONFLICT (id_hash) DO UPDATE SET data = EXCLUDED.data, expires_at = EXCLUDED.expires_at",
            id_hash,
            json.dumps(data),
            expires_at,
        )

    async def delete_session(self, id_hash: str) -> None:
        await self._pool.execute("DELETE FROM dashboard_sessions WHERE id_hash = $1", id_hash)

    async def purge_sessions(self, now: datetime) -> int:
        result = await self._pool.execute("DELETE FROM dashboard_sessions WHERE expires_at <= $1", now)
        return int(result.split()[-1])

    # the change log ------------------------------------------------------------------------------------------------

    async def log_change(self, guild_id: int, user_id: int, username: str, action: str, detail: str) -> None:
        await self._pool.execute(
            "INSERT INTO dashboard_changes (guild_id, user_id, username, action, detail) VALUES ($1, $2, $3, $4, $5)",
            guild_id,
            user_id,
            username[:100],
            action[:64],
            detail[:2000],
        )

    async def changes(self, guild_id: int, limit: int = 50) -> list[DashboardChange]:
        records = await self._pool.fetch(
            "SELECT id, guild_id, user_id, username, action, detail, created_at FROM dashboard_changes "
            "WHERE guild_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
            guild_id,
            limit,
        )
        return [DashboardChange.from_record(r) for r in records]

    # per-server options --------------------------------------------------------------------------------------------

    async def public_leaderboard(self, guild_id: int) -> bool:
        value = await self._pool.fetchval(
            "SELECT public_leaderboard FROM dashboard_guild_options WHERE guild_id = $1", guild_id
        )
        return bool(value)

    async def set_public_leaderboard(self, guild_id: int, on: bool) -> None:
        await self._pool.execute(
            "INSERT INTO dashboard_guild_options (guild_id, public_leaderboard) VALUES ($1, $2) "
            "ON CONFLICT (guild_id) DO UPDATE SET public_leaderboard = EXCLUDED.public_leaderboard, updated_at = now()",
            guild_id,
            on,
        )

    # summaries -----------------------------------------------------------------------------------------------------

    async def recent_cases(self, guild_id: int, limit: int = 50) -> list[Case]:
        records = await self._pool.fetch(
            f"SELECT {_CASE_COLUMNS} FROM moderation_cases WHERE guild_id = $1 ORDER BY created_at DESC, id DESC "
            "LIMIT $2",
            guild_id,
            limit,
        )
        return [Case.from_record(r) for r in records]

    async def closed_poll_ids(self, guild_id: int, limit: int = 20) -> list[int]:
        records = await self._pool.fetch(
            "SELECT id FROM polls WHERE guild_id = $1 AND closed_at IS NOT NULL ORDER BY closed_at DESC LIMIT $2",
            guild_id,
            limit,
        )
        return [int(r["id"]) for r in records]

    async def economy_totals(self, guild_id: int) -> EconomyTotals:
        record = await self._pool.fetchrow(
            "SELECT count(*) AS members, coalesce(sum(w.balance), 0) AS points FROM economy_members m "
            "JOIN wallets w ON w.user_id = m.user_id WHERE m.guild_id = $1",
            guild_id,
        )
        if record is None:
            return EconomyTotals(0, 0)
        return EconomyTotals(int(record["members"]), int(record["points"]))
