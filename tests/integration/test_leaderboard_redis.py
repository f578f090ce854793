"""The Redis leaderboard index against real Redis and PostgreSQL: rebuild, staying in step, fallback, equality."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
import pytest_asyncio
import redis.asyncio as redis_asyncio
from redis.exceptions import ConnectionError as RedisConnectionError

from hanabi.infra.db import Database, open_database
from hanabi.repositories.leaderboard import BalanceChange, LeaderboardIndex, PostgresLeaderboardIndex
from hanabi.repositories.leaderboard_redis import EXACT_LIMIT, RedisLeaderboardIndex
from hanabi.repositories.ledger import LedgerRepository
from hanabi.repositories.shop import ShopRepository
from hanabi.repositories.wallets import MAX_BALANCE, WalletRepository
from hanabi.services.economy import EconomyConfig, EconomyService, InsufficientFunds
from tests.harness.clock import ManualClock

pytestmark = pytest.mark.asyncio

OWNER = 1
GUILD = 9000


def make_service(database: Database, index: LeaderboardIndex, clock: ManualClock) -> EconomyService:
    return EconomyService(
        wallets=WalletRepository(database, index),
        ledger=LedgerRepository(database),
        shop=ShopRepository(database, index),
        index=index,
        clock=clock,
        config=EconomyConfig(owner_ids=frozenset({OWNER})),
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest_asyncio.fixture
async def database(database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    async for db in open_database(database_url, tmp_path, min_size=2, max_size=20):
        yield db


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))


@pytest_asyncio.fixture
async def namespace(redis_url: str) -> AsyncIterator[str]:
    name = f"test-{uuid.uuid4().hex}"
    yield name
    client = redis_asyncio.from_url(redis_url)
    keys = [key async for key in client.scan_iter(match=f"{name}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest_asyncio.fixture
async def redis(redis_url: str) -> AsyncIterator[redis_asyncio.Redis]:
    client = redis_asyncio.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest_asyncio.fixture
async def open_index(
    redis_url: str, database: Database, namespace: str
) -> AsyncIterator[Any]:  # a factory of started RedisLeaderboardIndex objects
    opened: list[RedisLeaderboardIndex] = []

    async def factory(url: str = redis_url, start: bool = True, **options: Any) -> RedisLeaderboardIndex:
        options.setdefault("retry_delays", (0.05, 0.2))
        index = RedisLeaderboardIndex(url, database, namespace=namespace, **options)
        opened.append(index)
        if start:
            await index.start()
        return index

    yield factory
    for index in opened:
        await index.close()


async def zset(redis: redis_asyncio.Redis, key: str) -> dict[int, int]:
    rows = cast("list[tuple[str, float]]", await redis.zrange(key, 0, -1, withscores=True))
    return {int(member): int(score) for member, score in rows}


async def positive_balances(database: Database) -> dict[int, int]:
    rows = await database.pool.fetch("SELECT user_id, balance FROM wallets WHERE balance > 0")
    return {int(r["user_id"]): int(r["balance"]) for r in rows}


async def assert_in_step(redis: redis_asyncio.Redis, index: RedisLeaderboardIndex, database: Database) -> None:
    expected = await positive_balances(database)
    assert await zset(redis, index.key) == expected
    assert index.ready
    postgres = PostgresLeaderboardIndex(database)
    for balance in {0, 1, *expected.values(), *(b - 1 for b in expected.values()), *(b + 1 for b in expected.values())}:
        assert (
            await index.count_above(balance)
            == await postgres.count_above(balance)
            == sum(1 for b in expected.values() if b > balance)
        )


async def seed(economy: EconomyService, balances: dict[int, int]) -> None:
    for user, amount in balances.items():
        if amount > 0:
            await economy.grant(OWNER, user, amount, "seed")


async def wait_ready(index: RedisLeaderboardIndex) -> None:
    for _ in range(200):
        if index.ready:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the index never came back to Redis")


# rebuild -------------------------------------------------------------------------------------------------------------


async def test_start_rebuilds_the_set_from_postgres_in_batches(
    database: Database, clock: ManualClock, redis: redis_asyncio.Redis, open_index: Any
) -> None:
    postgres = PostgresLeaderboardIndex(database)
    await seed(make_service(database, postgres, clock), {10 + i: (i % 7) * 50 for i in range(40)})
    # Wallets loaded without ledger rows (a bulk import) and an empty wallet are rebuilt too.
    await database.pool.execute("INSERT INTO wallets (user_id, balance) VALUES (500, 75), (501, 0), (502, 300)")
    await postgres.rebuild()

    index = await open_index(batch_size=7)
    await assert_in_step(redis, index, database)
    assert await redis.exists(f"{index.key}:built")
    assert not await redis.exists(f"{index.key}:build", f"{index.key}:build:lock")
    assert 501 not in await zset(redis, index.key)


async def test_readers_never_see_a_half_built_set_and_changes_during_a_rebuild_are_kept(
    database: Database, clock: ManualClock, redis: redis_asyncio.Redis, open_index: Any
) -> None:
    index = await open_index(batch_size=5)
    economy = make_service(database, index, clock)
    await seed(economy, {user: 100 + user for user in range(1, 31)})
    before = await zset(redis, index.key)
    assert len(before) == 30

    # Pause the rebuild after its first batch.
    first_batch_read, resume = asyncio.Event(), asyncio.Event()
    real_fetch = database.pool.fetch
    calls = 0

    async def paused_fetch(query: str, *args: Any) -> Any:
        nonlocal calls
        rows = await real_fetch(query, *args)
        calls += 1
        if calls == 2:
            first_batch_read.set()
            await resume.wait()
        return rows

    rebuilding_index = await open_index(start=False, batch_size=5)
    rebuilding_index._pool = _PoolWithFetch(database.pool, paused_fetch)
    rebuild = asyncio.create_task(rebuilding_index.rebuild())
    await first_batch_read.wait()

    # Mid-rebuild: the live set is whole and answers; a transfer of users in both halves is published to both.
    assert await zset(redis, index.key) == before
    assert await index.count_above(0) == 30
    await economy.transfer(2, 29, 50, guild_id=GUILD)  # user 2 was already read, user 29 not yet
    await economy.grant(OWNER, 31, 5, "new wallet mid-rebuild")
    resume.set()
    await rebuild

    await assert_in_step(redis, rebuilding_index, database)
    await assert_in_step(redis, index, database)


class _PoolWithFetch:
    def __init__(self, pool: Any, fetch: Any) -> None:
        self._pool = pool
        self.fetch = fetch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


# keeping in step -----------------------------------------------------------------------------------------------------


async def test_transfers_dailies_grants_and_purchases_keep_the_set_in_step(
    database: Database, clock: ManualClock, redis: redis_asyncio.Redis, open_index: Any
) -> None:
    index = await open_index()
    economy = make_service(database, index, clock)
    await economy.claim_daily(1001, reference="d1", guild_id=GUILD)
    await economy.claim_daily(1002, reference="d2", guild_id=GUILD)
    await economy.grant(OWNER, 1003, 500, "prize")
    await assert_in_step(redis, index, database)

    await economy.transfer(1003, 1001, 400, guild_id=GUILD)  # 1001: 500, 1003: 100
    await economy.transfer(1002, 1003, 100, guild_id=GUILD)  # 1002 drops to zero and leaves the set; 1003: 200
    assert 1002 not in await zset(redis, index.key)
    await economy.revoke(OWNER, 1001, 300, "correction")  # 1001 now 200 = 1003's 200: a tie
    await assert_in_step(redis, index, database)

    await economy.add_item(GUILD, name="Cake", price=150)
    bought = await economy.buy(GUILD, 1003, "Cake")
    await assert_in_step(redis, index, database)
    await economy.refund_purchase(bought.purchase_id, "test")
    await assert_in_step(redis, index, database)
    assert await economy.global_rank(1001) == await economy.global_rank(1003) == 1


async def test_concurrent_transfers_from_two_processes_keep_the_set_in_step(
    database_url: str, database: Database, clock: ManualClock, redis: redis_asyncio.Redis, open_index: Any
) -> None:
    first = await open_index()
    second_db = Database(pool=await _pool(database_url), kind="external", description="second")
    try:
        second = await open_index(start=False)
        second._pool = second_db.pool
        second._fallback = PostgresLeaderboardIndex(second_db)
        await second.start()
        economies = [make_service(database, first, clock), make_service(second_db, second, clock)]
        users = list(range(100, 120))
        await seed(economies[0], dict.fromkeys(users, 300))
        rng = random.Random(5)

        async def one(i: int) -> None:
            sender, receiver = rng.sample(users, 2)
            with contextlib.suppress(InsufficientFunds):
                await economies[i % 2].transfer(sender, receiver, rng.randint(1, 300), guild_id=GUILD)

        await asyncio.gather(*(one(i) for i in range(400)))
        await assert_in_step(redis, first, database)
        await assert_in_step(redis, second, database)
    finally:
        await second_db.pool.close()


async def _pool(url: str) -> Any:
    import asyncpg

    return await asyncpg.create_pool(url, min_size=2, max_size=20)


async def test_a_late_older_change_never_overwrites_a_newer_one(
    database: Database, redis: redis_asyncio.Redis, open_index: Any
) -> None:
    index = await open_index()
    await index.published([BalanceChange(7, 0, 300, version=20)])
    await index.published([BalanceChange(7, 0, 100, version=10)])  # committed earlier, published later
    assert await zset(redis, index.key) == {7: 300}
    await index.published([BalanceChange(7, 300, 0, version=30)])
    await index.published([BalanceChange(7, 100, 300, version=20)])
    assert await zset(redis, index.key) == {}


# fallback ------------------------------------------------------------------------------------------------------------


async def test_unreachable_redis_falls_back_to_postgres_and_never_fails_a_command(
    database: Database, clock: ManualClock, open_index: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hanabi.repositories.leaderboard_redis")
    index = await open_index(f"redis://127.0.0.1:{closed_port()}/15", timeout=0.5)
    assert not index.ready
    assert "ranks come from PostgreSQL" in caplog.text

    economy = make_service(database, index, clock)
    await economy.claim_daily(1, reference="d", guild_id=GUILD)
    await economy.grant(OWNER, 2, 500, "x")
    await economy.transfer(2, 3, 100, guild_id=GUILD)
    assert await economy.balance(2) == 400
    assert [await economy.global_rank(u) for u in (1, 2, 3)] == [2, 1, 2]
    assert (await economy.profile(3, GUILD)).global_rank == 2
    board = await economy.leaderboard("global", caller_id=1, guild_id=GUILD)
    assert board.caller is not None
    assert board.caller.rank == 2


async def test_a_failed_publish_falls_back_then_rebuilds_in_the_background(
    database: Database,
    clock: ManualClock,
    redis: redis_asyncio.Redis,
    open_index: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="hanabi.repositories.leaderboard_redis")
    index = await open_index()
    economy = make_service(database, index, clock)
    await economy.grant(OWNER, 1, 100, "x")
    real_apply = index._apply

    async def broken(**_: Any) -> Any:
        raise RedisConnectionError("Redis went away")

    index._apply = broken
    result = await economy.grant(OWNER, 2, 300, "missed by Redis")  # the command still succeeds
    assert result.balance == 300
    assert not index.ready
    assert "could not publish" in caplog.text
    assert await economy.global_rank(1) == 2  # from PostgreSQL meanwhile
    index._apply = real_apply
    await wait_ready(index)
    await assert_in_step(redis, index, database)


async def test_a_flushed_set_is_noticed_and_rebuilt(
    database: Database, clock: ManualClock, redis: redis_asyncio.Redis, open_index: Any
) -> None:
    index = await open_index()
    economy = make_service(database, index, clock)
    await seed(economy, {1: 100, 2: 200})
    await redis.delete(index.key, f"{index.key}:built", f"{index.key}:versions")  # Redis restarted empty
    assert await economy.global_rank(1) == 2  # noticed: answered by PostgreSQL, not "0 above"
    await wait_ready(index)
    await assert_in_step(redis, index, database)


# the same ranks as PostgreSQL ----------------------------------------------------------------------------------------


async def test_ranks_equal_the_postgres_index_with_ties_zeros_and_missing_wallets(
    database: Database, clock: ManualClock, redis: redis_asyncio.Redis, open_index: Any
) -> None:
    postgres = PostgresLeaderboardIndex(database)
    with_postgres = make_service(database, postgres, clock)
    rng = random.Random(11)
    # Many ties (balances from a small set), zeros, and balances beyond a double's exact range.
    balances = {user: rng.choice([0, 1, 5, 5, 100, 100, 100, 256, 257, 65_536, 1_000_000]) for user in range(1, 201)}
    balances |= {301: EXACT_LIMIT - 1, 302: EXACT_LIMIT, 303: EXACT_LIMIT + 1, 304: MAX_BALANCE, 305: MAX_BALANCE}
    await seed(with_postgres, balances)
    await with_postgres.transfer(304, 306, 1)  # 2**63-2 and 1: two more distinct neighbours
    await database.pool.execute("INSERT INTO wallets (user_id) VALUES (400)")  # a wallet that never held points

    index = await open_index(batch_size=13)
    with_redis = make_service(database, index, clock)
    assert index.ready
    stored = await positive_balances(database)
    probes = {0, 1, 2, 4, 5, 6, 99, 100, 101, 255, 256, 257, 65_535, 65_536, 10**9, MAX_BALANCE, -5}
    probes |= {EXACT_LIMIT + d for d in (-2, -1, 0, 1, 2)} | {MAX_BALANCE - 1, MAX_BALANCE - 2}
    for balance in sorted(probes | set(stored.values())):
        expected = sum(1 for b in stored.values() if b > balance)
        assert await index.count_above(balance) == await postgres.count_above(balance) == expected, balance

    for user in [*range(1, 201), 301, 302, 303, 304, 305, 306, 400, 999]:  # 999 has no wallet
        redis_profile = await with_redis.profile(user, GUILD)
        postgres_profile = await with_postgres.profile(user, GUILD)
        assert redis_profile.global_rank == postgres_profile.global_rank, user
        assert await with_redis.global_rank(user) == await with_postgres.global_rank(user)
        redis_board = await with_redis.leaderboard("global", caller_id=user, guild_id=GUILD, size=5)
        postgres_board = await with_postgres.leaderboard("global", caller_id=user, guild_id=GUILD, size=5)
        assert redis_board == postgres_board, user
    assert await with_redis.global_rank(400) is None
    assert await with_redis.global_rank(999) is None
    assert (await with_redis.global_rank(305), await with_redis.global_rank(304)) == (1, 2)  # 2**63-1, 2**63-2
    hundreds = [user for user, balance in balances.items() if balance == 100]
    assert len({await with_redis.global_rank(user) for user in hundreds}) == 1  # ties share a rank
