"""The economy with REDIS_URL set: global ranks come from the Redis sorted set, rebuilt from PostgreSQL on start."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
import redis.asyncio as redis_asyncio

from hanabi.repositories.leaderboard_redis import RedisLeaderboardIndex
from tests.harness.bot import running_bot
from tests.harness.discord import FakeDiscord, FakeGuild, Reply

pytestmark = pytest.mark.asyncio


def fields(reply: Reply) -> dict[str, str]:
    (embed,) = reply.embeds
    return {str(f["name"]): str(f["value"]) for f in embed.get("fields", [])}


@pytest_asyncio.fixture
async def namespace(redis_url: str) -> AsyncIterator[str]:
    name = f"test-{uuid.uuid4().hex}"
    yield name
    client = redis_asyncio.from_url(redis_url)
    keys = [key async for key in client.scan_iter(match=f"{name}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_global_ranks_come_from_the_redis_set_rebuilt_on_start(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, redis_url: str, namespace: str, tmp_path: Path
) -> None:
    alice = next(m for m in guild.members.values() if m.username == "alice")
    bob = next(m for m in guild.members.values() if m.username == "bob")
    # Wallets that exist before the bot starts (other users, and a tie at 300): the start-up rebuild loads them.
    conn = await asyncpg.connect(database_url)
    try:
        rows = [(1, 500), (2, 300), (3, 300), (4, 0), (alice.id, 300)]
        await conn.copy_records_to_table("wallets", records=rows, columns=["user_id", "balance"])
        await conn.copy_records_to_table(
            "ledger",
            records=[(uid, bal, bal, "grant", "seed") for uid, bal in rows if bal > 0],
            columns=["user_id", "delta", "balance_after", "kind", "reference"],
        )
        await conn.execute(
            """
            INSERT INTO leaderboard_buckets (level, bucket, wallets)
            SELECT l.level, w.balance >> (8 * l.level), count(*)
            FROM wallets w CROSS JOIN generate_series(0, 7) AS l(level) WHERE w.balance > 0 GROUP BY 1, 2
            """
        )
    finally:
        await conn.close()

    async with running_bot(fake, database_url, tmp_path, redis_url=redis_url, redis_namespace=namespace) as bot:
        index = bot.container.leaderboard_index()
        if inspect.isawaitable(index):
            index = await index
        assert isinstance(index, RedisLeaderboardIndex)
        for _ in range(200):  # built in the background after startup
            if index.ready:
                break
            await asyncio.sleep(0.025)
        assert index.ready
        redis = redis_asyncio.from_url(redis_url, decode_responses=True)
        try:
            key = f"{namespace}:leaderboard:global"
            assert await redis.zscore(key, str(alice.id)) == 300
            assert await redis.zcard(key) == 4

            balance = await fake.slash("balance", user=alice, guild=guild)
            assert fields(balance)["Global rank"] == "#2"  # tied with users 2 and 3, behind user 1

            await fake.slash("pay", {"user": bob, "amount": 250}, user=alice, guild=guild)
            assert await redis.zscore(key, str(alice.id)) == 50
            assert await redis.zscore(key, str(bob.id)) == 250
            assert fields(await fake.slash("balance", user=alice, guild=guild))["Global rank"] == "#5"
            assert fields(await fake.slash("balance", user=bob, guild=guild))["Global rank"] == "#4"

            board = await fake.slash("leaderboard", {"scope": "global"}, user=bob, guild=guild)
            assert board.embeds[0]["title"] == "Global leaderboard"
            assert board.text.splitlines()[1].startswith("**#1** <@1> · 🪙 500 points")
            assert "**#2** <@2> · 🪙 300 points" in board.text
            assert "**#2** <@3> · 🪙 300 points" in board.text
            assert "Your rank: **#4** with 🪙 250 points" in board.text
        finally:
            await redis.aclose()
