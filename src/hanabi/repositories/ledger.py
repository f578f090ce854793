"""The ledger: one row per balance change, written in the same transaction as the change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from hanabi.infra.db import Database
from hanabi.repositories.leaderboard import Connection

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


async def insert_entries(
    conn: Connection, entries: Sequence[NewEntry], balances_after: Sequence[int], at: datetime
) -> int:
    """Write ledger rows inside the caller's transaction (one statement for all of them); returns the last id."""
    last = await conn.fetchval(
        """
        WITH e AS (
            INSERT INTO ledger (user_id, delta, balance_after, kind, reference, guild_id, counterparty_id, note,
                                created_at)
            SELECT u, d, b, k, r, g, c, n, $9
            FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[],
                        $7::bigint[], $8::text[]) AS e(u, d, b, k, r, g, c, n)
            RETURNING id
        )
        SELECT COALESCE(max(id), 0) FROM e
        """,
        [e.user_id for e in entries],
        [e.delta for e in entries],
        list(balances_after),
        [e.kind for e in entries],
        [e.reference for e in entries],
        [e.guild_id for e in entries],
        [e.counterparty_id for e in entries],
        [e.note for e in entries],
        at,
    )
    return int(last)


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
