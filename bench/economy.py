"""Economy benchmark: transfers per second at 64 workers, and leaderboard reads over 1,000,000 wallets.

    .venv/bin/python bench/economy.py [--wallets 1000000] [--seconds 20] [--workers 64]

Uses PostgreSQL from BENCH_DATABASE_URL / TEST_DATABASE_URL / DATABASE_URL (a scratch database is created and
dropped), or else the embedded PostgreSQL in a temporary directory. Wallets are bulk-loaded with COPY and the
rank index rebuilt once; every transfer then goes through EconomyService (locks, ledger, rank buckets, retries).
With BENCH_REDIS_URL / TEST_REDIS_URL / REDIS_URL set, the Redis sorted-set index is also rebuilt from the same
wallets (under a scratch namespace, deleted afterwards) and its rank reads measured next to PostgreSQL's.
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
from hanabi.repositories.leaderboard import LeaderboardIndex, PostgresLeaderboardIndex
from hanabi.repositories.leaderboard_redis import RedisLeaderboardIndex
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


def redis_url() -> str | None:
    return next((os.environ[k] for k in ("BENCH_REDIS_URL", "TEST_REDIS_URL", "REDIS_URL") if os.environ.get(k)), None)


async def rank_latencies(
    index: LeaderboardIndex, economy: EconomyService, database: Database, wallets: int, samples: int
) -> tuple[list[float], list[float]]:
    """(rank index alone, wallet read + rank) over random users and the bottom 100."""
    rng = random.Random(7)
    bottom = await database.pool.fetch("SELECT user_id FROM wallets ORDER BY balance, user_id LIMIT 100")
    users = [rng.randint(1, wallets) for _ in range(samples)] + [int(r["user_id"]) for r in bottom] * 5
    balances = {
        r["user_id"]: r["balance"]
        for r in await database.pool.fetch(
            "SELECT user_id, balance FROM wallets WHERE user_id = ANY($1::bigint[])", users
        )
    }
    alone: list[float] = []
    for user in users:
        started = time.perf_counter()
        await index.count_above(balances.get(user, 0))
        alone.append(time.perf_counter() - started)
    with_wallet: list[float] = []
    for user in users:
        started = time.perf_counter()
        await economy.global_rank(user)
        with_wallet.append(time.perf_counter() - started)
    return alone, with_wallet


async def bench_redis_ranks(database: Database, url: str, wallets: int, samples: int) -> None:
    """Rebuild the Redis sorted set from the loaded wallets and compare rank reads with the PostgreSQL index."""
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    postgres = PostgresLeaderboardIndex(database)
    index = RedisLeaderboardIndex(url, database, namespace=namespace, fallback=postgres)
    parts = urlsplit(url)
    print(f"Redis at {parts.hostname}:{parts.port or 6379}, scratch namespace {namespace}")
    try:
        started = time.perf_counter()
        await index.rebuild()
        print(f"rebuilt the Redis sorted set from {wallets:,} wallets in {time.perf_counter() - started:.1f} s")
        client = index._redis
        memory = sum([int(await client.memory_usage(k, samples=0) or 0) for k in (index.key, f"{index.key}:versions")])
        print(f"Redis memory for the set and its versions: {memory / 2**20:.0f} MiB")
        figures = {}
        for name, rank_index in (("PostgreSQL", postgres), ("Redis", index)):
            economy = EconomyService(
                wallets=WalletRepository(database, rank_index),
                ledger=LedgerRepository(database),
                shop=ShopRepository(database, rank_index),
                index=rank_index,
                clock=SystemClock(),
                config=EconomyConfig(),
            )
            figures[name] = await rank_latencies(rank_index, economy, database, wallets, samples)
        for name, (alone, with_wallet) in figures.items():
            print(
                f"rank over {wallets:,} wallets, {name} index: p50 {ms(percentile(alone, 0.5))}, "
                f"p99 {ms(percentile(alone, 0.99))} (index alone); wallet read + rank: "
                f"p50 {ms(percentile(with_wallet, 0.5))}, p99 {ms(percentile(with_wallet, 0.99))}"
            )
    finally:
        keys = [key async for key in index._redis.scan_iter(match=f"{namespace}:*")]
        if keys:
            await index._redis.unlink(*keys)  # frees a big set in the background; DEL would block Redis
        await index.close()


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
        url = redis_url()
        if url is not None:
            await bench_redis_ranks(database, url, args.wallets, args.samples)
        else:
            print("no BENCH_REDIS_URL / TEST_REDIS_URL / REDIS_URL: the Redis index is not measured")
        await bench_transfers(economy, args.wallets, args.workers, args.seconds)
        await bench_leaderboard(economy, database, args.wallets, args.samples // 4)
        sums = await database.pool.fetchval("SELECT sum(balance) = (SELECT sum(delta) FROM ledger) FROM wallets")
        print(f"check: total balance equals ledger total: {sums}")


if __name__ == "__main__":
    asyncio.run(main())
