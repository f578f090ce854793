"""Wallets: balances, daily claims and leaderboard reads. Every balance change goes through `post()`.

Writers lock the wallets they touch in user-id order (`lock_wallets`), let the service's guard decide under
the lock, then write balances, ledger rows and the leaderboard index in the same transaction. A guard raises
to refuse, which rolls everything back.
"""

from __future__ import annotations

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


async def post(
    conn: Connection,
    index: LeaderboardIndex,
    locked: dict[int, Wallet],
    entries: Sequence[NewEntry],
    at: datetime,
) -> tuple[dict[int, Wallet], list[BalanceChange]]:
    """Apply ledger entries to locked wallets: balances, ledger rows and the rank index. Returns new wallets."""
    balances = {user_id: wallet.balance for user_id, wallet in locked.items()}
    after: list[int] = []
    for entry in entries:
        balances[entry.user_id] += entry.delta
        after.append(balances[entry.user_id])
    changed = sorted(uid for uid in balances if balances[uid] != locked[uid].balance)
    # Balances and ledger rows in one statement (one round trip): different tables, rows already locked.
    version = int(
        await conn.fetchval(
            """
            WITH balances AS (
                UPDATE wallets w SET balance = v.balance, updated_at = $3
                FROM unnest($1::bigint[], $2::bigint[]) AS v(user_id, balance) WHERE w.user_id = v.user_id
            ), entries AS (
                INSERT INTO ledger (user_id, delta, balance_after, kind, reference, guild_id, counterparty_id, note,
                                    created_at)
                SELECT u, d, b, k, r, g, c, n, $3
                FROM unnest($4::bigint[], $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::bigint[],
                            $10::bigint[], $11::text[]) AS e(u, d, b, k, r, g, c, n)
                RETURNING id
            )
            SELECT COALESCE(max(id), 0) FROM entries
            """,
            changed,
            [balances[uid] for uid in changed],
            at,
            [e.user_id for e in entries],
            [e.delta for e in entries],
            after,
            [e.kind for e in entries],
            [e.reference for e in entries],
            [e.guild_id for e in entries],
            [e.counterparty_id for e in entries],
            [e.note for e in entries],
        )
    )
    changes = [BalanceChange(uid, locked[uid].balance, balances[uid], version) for uid in changed]
    await index.stage(conn, changes)
    wallets = {uid: Wallet(uid, balances[uid], wallet.streak, wallet.last_daily) for uid, wallet in locked.items()}
    return wallets, changes


async def touch_members(conn: Connection, guild_id: int | None, user_ids: Iterable[int], at: datetime) -> None:
    """Remember that these users used the economy in this server (the server leaderboard ranks them)."""
    if guild_id is None:
        return
    await conn.execute(
        """
        INSERT INTO economy_members (guild_id, user_id, first_seen)
        SELECT $1, id, $3 FROM unnest($2::bigint[]) AS t(id) ORDER BY id
        ON CONFLICT DO NOTHING
        """,
        guild_id,
        sorted(set(user_ids)),
        at,
    )


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
        self,
        entries: Sequence[NewEntry],
        *,
        at: datetime,
        guild_id: int | None,
        members: Iterable[int] = (),
        guard: Callable[[dict[int, Wallet]], None],
    ) -> dict[int, Wallet]:
        """One atomic balance change (a transfer, a grant): lock, let `guard` refuse, then write."""
        async with self._pool.acquire() as conn, conn.transaction():
            locked = await lock_wallets(conn, (e.user_id for e in entries))
            guard(locked)
            await touch_members(conn, guild_id, members, at)
            # Last, so the shared rank buckets stay locked for the shortest time before the commit.
            wallets, changes = await post(conn, self._index, locked, entries, at)
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
            wallets, changes = await post(conn, self._index, locked, [entry], at)
            await touch_members(conn, guild_id, [user_id], at)
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
