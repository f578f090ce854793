"""Daily translation counters in PostgreSQL (`translation_usage`)."""

from __future__ import annotations

from datetime import date

from hanabi.infra.db import Database


class PostgresQuotaStore:
    """`consume` is one atomic upsert: the counter only moves while it is under the limit."""

    kind = "postgres"

    def __init__(self, database: Database) -> None:
        self._pool = database.pool

    async def consume(self, scope: str, day: date, limit: int) -> bool:
        used = await self._pool.fetchval(
            """
            INSERT INTO translation_usage AS u (scope, day, used) VALUES ($1, $2, 1)
            ON CONFLICT (scope, day) DO UPDATE SET used = u.used + 1 WHERE u.used < $3
            RETURNING used
            """,
            scope,
            day,
            limit,
        )
        return used is not None

    async def refund(self, scope: str, day: date) -> None:
        await self._pool.execute(
            "UPDATE translation_usage SET used = used - 1 WHERE scope = $1 AND day = $2 AND used > 0", scope, day
        )

    async def used(self, scope: str, day: date) -> int:
        value = await self._pool.fetchval(
            "SELECT used FROM translation_usage WHERE scope = $1 AND day = $2", scope, day
        )
        return int(value or 0)

    async def forget_before(self, day: date) -> int:
        result = await self._pool.execute("DELETE FROM translation_usage WHERE day < $1", day)
        return int(result.split()[-1])
