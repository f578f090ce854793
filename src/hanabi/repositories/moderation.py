"""Automod configuration rows and moderation cases."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from hanabi.infra.db import Database

_CONFIG_COLUMNS = (
    "guild_id, rules, ladder, strike_window_seconds, link_allowlist, invite_allowlist, "
    "exempt_role_ids, exempt_channel_ids, dry_run, updated_at"
)
CONFIG_EDITABLE = frozenset(
    {
        "rules",
        "ladder",
        "strike_window_seconds",
        "link_allowlist",
        "invite_allowlist",
        "exempt_role_ids",
        "exempt_channel_ids",
        "dry_run",
    }
)
_CASE_COLUMNS = (
    "id, guild_id, user_id, moderator_id, rule, action, timeout_seconds, strike, deleted_count, channel_id, "
    "reason, evidence, created_at, cleared_at, cleared_by"
)


@dataclass(frozen=True, slots=True)
class AutomodConfigRow:
    guild_id: int
    rules: dict[str, dict[str, Any]]
    ladder: str | None = None
    strike_window_seconds: int | None = None
    link_allowlist: tuple[str, ...] = ()
    invite_allowlist: tuple[str, ...] = ()
    exempt_role_ids: tuple[int, ...] = ()
    exempt_channel_ids: tuple[int, ...] = ()
    dry_run: bool = False
    updated_at: datetime | None = None

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> AutomodConfigRow:
        rules = record["rules"]
        return cls(
            guild_id=record["guild_id"],
            rules=json.loads(rules) if isinstance(rules, str) else dict(rules),
            ladder=record["ladder"],
            strike_window_seconds=record["strike_window_seconds"],
            link_allowlist=tuple(record["link_allowlist"]),
            invite_allowlist=tuple(record["invite_allowlist"]),
            exempt_role_ids=tuple(record["exempt_role_ids"]),
            exempt_channel_ids=tuple(record["exempt_channel_ids"]),
            dry_run=record["dry_run"],
            updated_at=record["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class NewCase:
    guild_id: int
    user_id: int
    rule: str
    action: str
    strike: int
    timeout_seconds: int = 0
    deleted_count: int = 0
    channel_id: int | None = None
    reason: str = ""
    evidence: str = ""
    moderator_id: int | None = None


@dataclass(frozen=True, slots=True)
class Case:
    id: int
    guild_id: int
    user_id: int
    moderator_id: int | None
    rule: str
    action: str
    timeout_seconds: int
    strike: int
    deleted_count: int
    channel_id: int | None
    reason: str
    evidence: str
    created_at: datetime
    cleared_at: datetime | None
    cleared_by: int | None

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> Case:
        return cls(**dict(record))


class ModerationRepository:
    def __init__(self, database: Database) -> None:
        self._pool = database.pool

    async def get_config(self, guild_id: int) -> AutomodConfigRow | None:
        record = await self._pool.fetchrow(
            f"SELECT {_CONFIG_COLUMNS} FROM automod_config WHERE guild_id = $1", guild_id
        )
        return AutomodConfigRow.from_record(record) if record else None

    async def update_config(self, guild_id: int, changes: dict[str, Any]) -> AutomodConfigRow:
        unknown = set(changes) - CONFIG_EDITABLE
        if unknown:
            raise ValueError(f"not editable: {sorted(unknown)}")
        columns = sorted(changes)
        values = [json.dumps(changes[c]) if c == "rules" else changes[c] for c in columns]
        # Column names come from the CONFIG_EDITABLE allowlist above, never from user input.
        casts = {"rules": "::jsonb"}
        assignments = ", ".join(f"{col} = EXCLUDED.{col}" for col in columns)
        placeholders = ", ".join(f"${i + 2}{casts.get(c, '')}" for i, c in enumerate(columns))
        query = (
            f"INSERT INTO automod_config (guild_id{''.join(', ' + c for c in columns)}) "
            f"VALUES ($1{', ' if columns else ''}{placeholders}) "
            f"ON CONFLICT (guild_id) DO UPDATE SET {assignments}{', ' if columns else ''}updated_at = now() "
            f"RETURNING {_CONFIG_COLUMNS}"
        )
        record = await self._pool.fetchrow(query, guild_id, *values)
        if record is None:
            raise RuntimeError("upsert returned no row")
        return AutomodConfigRow.from_record(record)

    async def add_case(self, case: NewCase) -> Case:
        record = await self._pool.fetchrow(
            "INSERT INTO moderation_cases (guild_id, user_id, moderator_id, rule, action, timeout_seconds, strike, "
            "deleted_count, channel_id, reason, evidence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
            f"RETURNING {_CASE_COLUMNS}",
            case.guild_id,
            case.user_id,
            case.moderator_id,
            case.rule,
            case.action,
            case.timeout_seconds,
            case.strike,
            case.deleted_count,
            case.channel_id,
            case.reason[:200],
            case.evidence[:400],
        )
        if record is None:
            raise RuntimeError("insert returned no row")
        return Case.from_record(record)

    async def cases_for(self, guild_id: int, user_id: int, *, limit: int = 50) -> list[Case]:
        records = await self._pool.fetch(
            f"SELECT {_CASE_COLUMNS} FROM moderation_cases WHERE guild_id = $1 AND user_id = $2 "
            "AND cleared_at IS NULL ORDER BY created_at DESC, id DESC LIMIT $3",
            guild_id,
            user_id,
            limit,
        )
        return [Case.from_record(r) for r in records]

    async def clear_cases(self, guild_id: int, user_id: int, cleared_by: int) -> int:
        result = await self._pool.execute(
            "UPDATE moderation_cases SET cleared_at = now(), cleared_by = $3 "
            "WHERE guild_id = $1 AND user_id = $2 AND cleared_at IS NULL",
            guild_id,
            user_id,
            cleared_by,
        )
        return int(result.split()[-1])
