"""Wallets: balances, daily claims and leaderboard reads. Every balance change goes through `post()`.

`post()` is one statement (`wallets_post`, migration 0012): it locks the wallets in user-id order, refuses a
balance below zero or past `MAX_BALANCE` (`BalanceOutOfRange`, nothing written), and writes balances, ledger rows,
server memberships and rank-bucket deltas. A transfer or a grant is that statement alone. Writers that must decide
on the locked wallet first (a daily claim, a purchase) lock it with `lock_wallets` in a transaction, let the
service's guard decide (raising rolls everything back), and call `post()` in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from hanabi.infra.db import Database
from hanabi.repositories.leaderboard import BalanceChange, Connection, LeaderboardIndex
from hanabi.repositories.ledger import NewEntry

MAX_BALANCE = 2**63 - 1  # PostgreSQL bigint
_COLUMNS = "user_id, balance, streak, last_daily"


@dataclass(frozen=True, slots=True)
class Wallet:
    user_id: int
    balance: int = 0
    streak: int = 0
    last_daily: date | None = None

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> Wallet:
        return cls(**dict(record))


@dataclass(frozen=True, slots=True)
class WalletStanding:
    """A wallet (None: the user has none) and how many hold more, in one server and overall (None: not asked,
    not a member there, or nothing held)."""

    wallet: Wallet | None
    server_above: int | None
    global_above: int | None


@dataclass(frozen=True, slots=True)
class DailyDecision:
    """What the service decided for a claim: the calendar day, the streak after it and the amount paid."""

    day: date
    streak: int
    amount: int


@dataclass(frozen=True, slots=True)
class DailyClaim:
    day: date
    streak: int
    amount: int
    balance: int
    replayed: bool  # True when this interaction had already claimed (a retried interaction)


async def lock_wallets(conn: Connection, user_ids: Iterable[int]) -> dict[int, Wallet]:
    """Create missing wallets and lock all of them, in user-id order (so two writers never deadlock)."""
    ids = sorted(set(user_ids))
    records = await conn.fetch(
        f"""
        INSERT INTO wallets AS w (user_id) SELECT id FROM unnest($1::bigint[]) AS t(id) ORDER BY id
        ON CONFLICT (user_id) DO UPDATE SET user_id = w.user_id
        RETURNING {_COLUMNS}
        """,
        ids,
    )
    return {int(r["user_id"]): Wallet.from_record(r) for r in records}


class BalanceOutOfRange(Exception):
    """The change would take a wallet below zero or past `MAX_BALANCE`; nothing was written.

    `balances` holds each wallet's balance before the change, read under its lock, for the refusal's message.
    """

    def __init__(self, balances: dict[int, int]) -> None:
        super().__init__(_OUT_OF_RANGE)
        self.balances = balances


# wallets_post (migration 0012) locks, checks and writes everything in one statement: one round trip.
_POST = "SELECT * FROM wallets_post($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
_OUT_OF_RANGE = "balance out of range"  # wallets_post's refusal (SQLSTATE P0001), its balances as JSON in DETAIL


async def post(
    conn: Connection | asyncpg.Pool,
    entries: Sequence[NewEntry],
    at: datetime,
    *,
    guild_id: int | None = None,
    members: Iterable[int] = (),
) -> tuple[dict[int, Wallet], list[BalanceChange]]:
    """Apply ledger entries: balances, ledger rows, server memberships and rank-bucket deltas, all or nothing.

    On a pool the statement is its own transaction; on a connection it joins the caller's (which may have locked
    the wallets already, to decide). Raises `BalanceOutOfRange` instead of writing a balance out of range.
    """
    try:
        records = await conn.fetch(
            _POST,
            [e.user_id for e in entries],
            [e.delta for e in entries],
            [e.kind for e in entries],
            [e.reference for e in entries],
            [e.guild_id for e in entries],
            [e.counterparty_id for e in entries],
            [e.note for e in entries],
            at,
            guild_id,
            list(members),
        )
    except asyncpg.RaiseError as error:
        if error.message != _OUT_OF_RANGE or error.detail is None:
            raise
        balances = json.loads(error.detail)
        raise BalanceOutOfRange({int(user_id): int(balance) for user_id, balance in balances.items()}) from None
    wallets = {r["user_id"]: Wallet(r["user_id"], r["balance"], r["streak"], r["last_daily"]) for r in records}
    changes = [
        BalanceChange(r["user_id"], r["old_balance"], r["balance"], r["version"])
        for r in records
        if r["old_balance"] != r["balance"]
    ]
    return wallets, changes


class WalletRepository:
    def __init__(self, database: Database, index: LeaderboardIndex) -> None:
        self._pool = database.pool
        self._index = index

    @property
    def index(self) -> LeaderboardIndex:
        return self._index

    async def get(self, user_id: int) -> Wallet | None:
        record = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM wallets WHERE user_id = $1", user_id)
        return Wallet.from_record(record) if record else None

    async def apply(
        self, entries: Sequence[NewEntry], *, at: datetime, guild_id: int | None, members: Iterable[int] = ()
    ) -> dict[int, Wallet]:
        """One atomic balance change (a transfer, a grant) in one statement; `BalanceOutOfRange` refuses it."""
        wallets, changes = await post(self._pool, entries, at, guild_id=guild_id, members=members)
        await self._index.published(changes)
        return wallets

    async def claim_daily(
        self,
        user_id: int,
        *,
        reference: str,
        guild_id: int | None,
        at: datetime,
        decide: Callable[[Wallet], DailyDecision],
    ) -> DailyClaim:
        async with self._pool.acquire() as conn, conn.transaction():
            locked = await lock_wallets(conn, [user_id])
            wallet = locked[user_id]
            earlier = await conn.fetchrow(
                "SELECT day, streak, amount FROM daily_claims WHERE reference = $1 AND user_id = $2",
                reference,
                user_id,
            )
            if earlier is not None:
                return DailyClaim(earlier["day"], earlier["streak"], earlier["amount"], wallet.balance, replayed=True)
            decision = decide(wallet)
            await conn.execute(
                """
                INSERT INTO daily_claims (user_id, day, reference, amount, streak, claimed_at)
                VALUES ($1, $2, $3, $4, $5, $6)
                """,
                user_id,
                decision.day,
                reference,
                decision.amount,
                decision.streak,
                at,
            )
            await conn.execute(
                "UPDATE wallets SET streak = $2, last_daily = $3 WHERE user_id = $1",
                user_id,
                decision.streak,
                decision.day,
            )
            entry = NewEntry(user_id, decision.amount, "daily", reference, guild_id=guild_id)
            wallets, changes = await post(conn, [entry], at, guild_id=guild_id, members=[user_id])
        await self._index.published(changes)
        return DailyClaim(decision.day, decision.streak, decision.amount, wallets[user_id].balance, replayed=False)

    # leaderboards ------------------------------------------------------------------------------------------------

    async def top(self, limit: int, offset: int = 0) -> list[Wallet]:
        records = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM wallets WHERE balance > 0 ORDER BY balance DESC, user_id LIMIT $1 OFFSET $2",
            limit,
            offset,
        )
        return [Wallet.from_record(r) for r in records]

    async def guild_top(self, guild_id: int, limit: int, offset: int = 0) -> list[Wallet]:
        records = await self._pool.fetch(
            """
            SELECT w.user_id, w.balance, w.streak, w.last_daily
            FROM economy_members m JOIN wallets w ON w.user_id = m.user_id
            WHERE m.guild_id = $1 AND m.balance > 0
            ORDER BY m.balance DESC, m.user_id LIMIT $2 OFFSET $3
            """,
            guild_id,
            limit,
            offset,
        )
        return [Wallet.from_record(r) for r in records]

    async def get_standing(self, user_id: int, guild_id: int | None, *, with_global: bool = False) -> WalletStanding:
        """The wallet, how many members of the server hold more (None: not a member there, or nothing held), and
        with `with_global` how many wallets hold more (the PostgreSQL rank buckets, `leaderboard_count_above`).

        One round trip instead of four (wallet, membership, server count, global count): `/balance` and the
        leaderboards' own line.
        """
        record = await self._pool.fetchrow(
            f"""
            SELECT {_COLUMNS},
                   CASE WHEN w.balance > 0 AND EXISTS (
                            SELECT 1 FROM economy_members m WHERE m.guild_id = $2 AND m.user_id = w.user_id
                        )
                        -- an index range: economy_members_rank (0009)
                        THEN (SELECT count(*) FROM economy_members m WHERE m.guild_id = $2 AND m.balance > w.balance)
                   END AS server_above,
                   CASE WHEN $3 AND w.balance > 0 THEN leaderboard_count_above(w.balance) END AS global_above
            FROM wallets w WHERE w.user_id = $1
            """,
            user_id,
            guild_id,
            with_global,
        )
        if record is None:
            return WalletStanding(None, None, None)
        wallet = Wallet(int(record["user_id"]), record["balance"], record["streak"], record["last_daily"])
        server_above, global_above = record["server_above"], record["global_above"]
        return WalletStanding(
            wallet,
            int(server_above) if server_above is not None else None,
            int(global_above) if global_above is not None else None,
        )

    async def balances(self) -> dict[int, int]:
        records = await self._pool.fetch("SELECT user_id, balance FROM wallets")
        return {int(r["user_id"]): int(r["balance"]) for r in records}
