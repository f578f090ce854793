"""The ledger: one row per balance change, written in the same transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from hanabi.infra.db import Database

_COLUMNS = "id, user_id, delta, balance_after, kind, reference, guild_id, counterparty_id, note, created_at"


@dataclass(frozen=True, slots=True)
class NewEntry:
    user_id: int
    delta: int
    kind: str
    reference: str
    guild_id: int | None = None
    counterparty_id: int | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: int
    user_id: int
    delta: int
    balance_after: int
    kind: str
    reference: str
    guild_id: int | None
    counterparty_id: int | None
    note: str | None
    created_at: datetime

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> LedgerEntry:
        return cls(**dict(record))


class LedgerRepository:
    def __init__(self, database: Database) -> None:
        self._pool = database.pool

    async def recent(self, user_id: int, limit: int = 20) -> list[LedgerEntry]:
        records = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM ledger WHERE user_id = $1 ORDER BY id DESC LIMIT $2", user_id, limit
        )
        return [LedgerEntry.from_record(r) for r in records]

    async def sums(self) -> dict[int, int]:
        """Each user's ledger total (the invariant: it equals the wallet's balance)."""
        records = await self._pool.fetch("SELECT user_id, SUM(delta)::bigint AS total FROM ledger GROUP BY user_id")
        return {int(r["user_id"]): int(r["total"]) for r in records}
