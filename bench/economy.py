"""Economy benchmark: transfers per second at 64 workers, and leaderboard reads over 1,000,000 wallets.

    .venv/bin/python bench/economy.py [--wallets 1000000] [--seconds 20] [--workers 64]

Uses PostgreSQL from BENCH_DATABASE_URL / TEST_DATABASE_URL / DATABASE_URL (a scratch database is created and
dropped), or else the embedded PostgreSQL in a temporary directory. Wallets are bulk-loaded with COPY and the
rank index rebuilt once; every transfer then goes through EconomyService (locks, ledger, rank buckets, retries).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import asyncpg

from hanabi.infra.clock import SystemClock
from hanabi.infra.db import Database, open_database
from hanabi.repositories.leaderboard import PostgresLeaderboardIndex
from hanabi.repositories.ledger import LedgerRepository
from hanabi.repositories.shop import ShopRepository
from hanabi.repositories.wallets import WalletRepository
from hanabi.services.economy import EconomyConfig, EconomyService, InsufficientFunds


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


@asynccontextmanager
async def bench_database(pool_size: int) -> AsyncIterator[Database]:
    admin_dsn = next(
        (os.environ[k] for k in ("BENCH_DATABASE_URL", "TEST_DATABASE_URL", "DATABASE_URL") if os.environ.get(k)),
        None,
    )
    if admin_dsn is None:
        with tempfile.TemporaryDirectory(prefix="hanabi-bench-") as tmp:
            print(f"embedded PostgreSQL in {tmp}")
            async for db in open_database(None, Path(tmp), min_size=pool_size, max_size=pool_size):
                yield db
        return
    name = f"hanabi_bench_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(admin_dsn)
    dsn = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    print(f"PostgreSQL at {parts.hostname}:{parts.port or 5432}, scratch database {name}")
    try:
        async for db in open_database(dsn, Path(tempfile.gettempdir()), min_size=pool_size, max_size=pool_size):
            yield db
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def load_wallets(database: Database, count: int, rng: random.Random) -> None:
    started = time.perf_counter()
    # A long-tailed distribution: most wallets hold a few hundred points, a few hold millions.
    rows = [(user_id, int(rng.paretovariate(1.2) * 100)) for user_id in range(1, count + 1)]
    async with database.pool.acquire() as conn:
        await conn.copy_records_to_table("wallets", records=rows, columns=["user_id", "balance"])
        await conn.copy_records_to_table(
            "ledger",
            records=[(uid, bal, bal, "grant", "bench") for uid, bal in rows if bal > 0],
            columns=["user_id", "delta", "balance_after", "kind", "reference"],
        )
        await conn.execute("ANALYZE wallets")
    await PostgresLeaderboardIndex(database).rebuild()
    async with database.pool.acquire() as conn:
        await conn.execute("ANALYZE leaderboard_buckets")
    print(f"loaded {count:,} wallets and rebuilt the rank index in {time.perf_counter() - started:.1f} s")


async def bench_transfers(economy: EconomyService, wallets: int, workers: int, seconds: float) -> None:
    latencies: list[float] = []
    refused = 0
    deadline = time.perf_counter() + seconds

    async def worker(seed: int) -> None:
        nonlocal refused
        rng = random.Random(seed)
        while time.perf_counter() < deadline:
            sender, receiver = rng.sample(range(1, wallets + 1), 2)
            started = time.perf_counter()
            try:
                await economy.transfer(sender, receiver, rng.randint(1, 50), guild_id=1)
            except InsufficientFunds:
                refused += 1
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(workers)))
    elapsed = time.perf_counter() - started
    print(
        f"transfers: {len(latencies) / elapsed:,.0f}/s at {workers} workers over {elapsed:.1f} s "
        f"({len(latencies):,} done, {refused:,} refused for funds); "
        f"p50 {ms(percentile(latencies, 0.5))}, p99 {ms(percentile(latencies, 0.99))}"
    )


async def bench_leaderboard(economy: EconomyService, database: Database, wallets: int, samples: int) -> None:
    index = PostgresLeaderboardIndex(database)
    repo = WalletRepository(database, index)
    rng = random.Random(7)
    top: list[float] = []
    for _ in range(samples):
        started = time.perf_counter()
        await repo.top(10)
        top.append(time.perf_counter() - started)
    # Any user, and users at the very bottom (the worst case for a COUNT over an index range).
    bottom = await database.pool.fetch("SELECT user_id FROM wallets ORDER BY balance, user_id LIMIT 100")
    users = [rng.randint(1, wallets) for _ in range(samples)] + [int(r["user_id"]) for r in bottom] * 5
    ranks: list[float] = []
    for user in users:
        started = time.perf_counter()
        await economy.global_rank(user)
        ranks.append(time.perf_counter() - started)
    count_only: list[float] = []
    for user in users[:samples]:
        balance = await economy.balance(user)
        started = time.perf_counter()
        await index.count_above(balance)
        count_only.append(time.perf_counter() - started)
    print(
        f"leaderboard top 10 over {wallets:,} wallets: p50 {ms(percentile(top, 0.5))}, p99 {ms(percentile(top, 0.99))}"
    )
    print(
        f"one user's rank ({len(users):,} users incl. the bottom 100): p50 {ms(percentile(ranks, 0.5))}, "
        f"p99 {ms(percentile(ranks, 0.99))} (wallet read + rank); rank index alone: "
        f"p50 {ms(percentile(count_only, 0.5))}, p99 {ms(percentile(count_only, 0.99))}, "
        f"mean {ms(statistics.fmean(count_only))}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wallets", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--samples", type=int, default=2_000)
    args = parser.parse_args()
    async with bench_database(pool_size=args.workers) as database:
        index = PostgresLeaderboardIndex(database)
        economy = EconomyService(
            wallets=WalletRepository(database, index),
            ledger=LedgerRepository(database),
            shop=ShopRepository(database, index),
            index=index,
            clock=SystemClock(),
            config=EconomyConfig(),
        )
        await load_wallets(database, args.wallets, random.Random(1))
        await bench_leaderboard(economy, database, args.wallets, args.samples)
        await bench_transfers(economy, args.wallets, args.workers, args.seconds)
        await bench_leaderboard(economy, database, args.wallets, args.samples // 4)
        sums = await database.pool.fetchval("SELECT sum(balance) = (SELECT sum(delta) FROM ledger) FROM wallets")
        print(f"check: total balance equals ledger total: {sums}")


if __name__ == "__main__":
    asyncio.run(main())
