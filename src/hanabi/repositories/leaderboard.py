"""Global leaderboard ranks: a `LeaderboardIndex` protocol and its PostgreSQL implementation.

A rank is "1 + how many wallets hold strictly more points" (ties share a rank). Counting that over an index
range is O(wallets above you): too slow near the bottom of a million wallets. So the PostgreSQL index keeps
bucketed counts (`leaderboard_buckets`): level L counts wallets by `balance >> 8L`, for L = 0..7. The number of
wallets above B is then a sum over, per level, the buckets that share B's parent bucket and lie above B's
bucket: at most 255 rows per level, whatever the number of wallets.

Every balance change appends its bucket deltas to `leaderboard_bucket_deltas` in the statement that changes the
balances (`wallets_post`, migration 0012), whichever index is in use, rather than updating the buckets: wallets
with the same balance share a level-0 bucket, and in-place updates made every such writer wait for the one
before it to commit (migration 0010). Writers call `published()` after the commit, where an index outside the
database (a Redis sorted set) applies the change. Counts add the pending deltas to the buckets; `fold()`, run every
`FOLD_SECONDS` by the container, moves them into the buckets in one statement. Only positive balances are
indexed, so creating an empty wallet touches nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg

from hanabi.infra.db import Database

log = logging.getLogger(__name__)

# The bucket layout (8 levels of 8 bits) lives in SQL: wallets_post writes it, leaderboard_count_above and the
# rebuild below read it (migrations 0011 and 0012).
FOLD_SECONDS = 1.0

Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


@dataclass(frozen=True, slots=True)
class BalanceChange:
    user_id: int
    old: int
    new: int
    # The writing transaction's last ledger id. Writers hold the wallet's row lock while they allocate ledger
    # ids, so a user's versions grow in commit order: an index outside the database drops a late, older change.
    version: int = 0


class LeaderboardIndex(Protocol):
    """Answers "how many wallets are richer than B" fast; kept up to date by whoever changes balances."""

    kind: str

    async def published(self, changes: Sequence[BalanceChange]) -> None:
        """Record balance changes after the writer's transaction committed (may be a no-op)."""
        ...

    async def count_above(self, balance: int) -> int:
        """How many wallets hold strictly more than `balance` points."""
        ...

    async def rebuild(self) -> None:
        """Recompute the index from the wallets table (after bulk loads, or when switching implementations)."""
        ...


# leaderboard_count_above (migration 0011) sums the buckets above a balance, pending deltas included.
_COUNT_ABOVE = "SELECT leaderboard_count_above($1)"

# Deletes only the deltas this statement sees (committed ones): a writer's later deltas wait for the next fold.
# Two folds at once (two processes) move each delta once: the second skips rows the first deleted.
_FOLD = """
WITH moved AS (
    DELETE FROM leaderboard_bucket_deltas RETURNING level, bucket, delta
), summed AS (
    SELECT level, bucket, sum(delta) AS delta FROM moved GROUP BY level, bucket
)
INSERT INTO leaderboard_buckets AS b (level, bucket, wallets)
SELECT level, bucket, delta FROM summed WHERE delta <> 0 ORDER BY level, bucket
ON CONFLICT (level, bucket) DO UPDATE SET wallets = b.wallets + EXCLUDED.wallets
"""


class PostgresLeaderboardIndex:
    """Bucketed counts in `leaderboard_buckets`, plus the deltas balance changes append until they are folded."""

    kind = "postgres"

    def __init__(self, database: Database) -> None:
        self._pool = database.pool

    async def published(self, changes: Sequence[BalanceChange]) -> None:
        return None

    async def count_above(self, balance: int) -> int:
        return int(await self._pool.fetchval(_COUNT_ABOVE, balance) or 0)

    async def fold(self) -> None:
        """Move the pending deltas into the buckets; every count is the same before and after."""
        await self._pool.execute(_FOLD)

    async def fold_forever(self, every: float = FOLD_SECONDS) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.fold()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                # Counts stay exact without folding (they read the deltas); only their cost grows until it works.
                log.warning("could not fold the leaderboard deltas, trying again: %s", error)

    async def rebuild(self) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("LOCK TABLE wallets IN SHARE MODE")
            await conn.execute("DELETE FROM leaderboard_bucket_deltas")
            await conn.execute("DELETE FROM leaderboard_buckets")
            await conn.execute(
                """
                INSERT INTO leaderboard_buckets (level, bucket, wallets)
                SELECT l.level, w.balance >> (8 * l.level), count(*)
                FROM wallets w CROSS JOIN generate_series(0, 7) AS l(level)
                WHERE w.balance > 0
                GROUP BY 1, 2
                """
            )
