"""The economy service against a real PostgreSQL: concurrency, invariants, day boundaries, the shop."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
import pytest_asyncio

from hanabi.errors import InvalidInput
from hanabi.infra.db import Database, open_database
from hanabi.repositories.leaderboard import PostgresLeaderboardIndex
from hanabi.repositories.ledger import LedgerRepository, NewEntry
from hanabi.repositories.shop import ShopRepository
from hanabi.repositories.wallets import MAX_BALANCE, WalletRepository, post
from hanabi.services.economy import (
    BalanceOverflow,
    DailyAlreadyClaimed,
    EconomyConfig,
    EconomyService,
    InsufficientFunds,
    OutOfStock,
    OwnersOnly,
    RoleNotGrantable,
    RoleRefusal,
)
from tests.harness.clock import ManualClock

OWNER = 1
GUILD = 9000


def make_service(database: Database, clock: ManualClock, **config: object) -> EconomyService:
    index = PostgresLeaderboardIndex(database)
    settings = {"owner_ids": frozenset({OWNER})} | config
    return EconomyService(
        wallets=WalletRepository(database, index),
        ledger=LedgerRepository(database),
        shop=ShopRepository(database, index),
        index=index,
        clock=clock,
        config=EconomyConfig(**settings),  # type: ignore[arg-type]
    )


@pytest_asyncio.fixture
async def database(database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    async for db in open_database(database_url, tmp_path, min_size=2, max_size=20):
        yield db


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))


@pytest.fixture
def economy(database: Database, clock: ManualClock) -> EconomyService:
    return make_service(database, clock)


async def assert_invariants(database: Database) -> None:
    """No negative balance, every balance equals its ledger sum, and the rank index matches a full count."""
    wallets = {r["user_id"]: r["balance"] for r in await database.pool.fetch("SELECT user_id, balance FROM wallets")}
    sums = await LedgerRepository(database).sums()
    assert all(balance >= 0 for balance in wallets.values())
    for user_id, balance in wallets.items():
        assert balance == sums.get(user_id, 0), f"user {user_id}: balance {balance} != ledger {sums.get(user_id, 0)}"
    index = PostgresLeaderboardIndex(database)
    for balance in {0, 1, *wallets.values()}:
        expected = sum(1 for b in wallets.values() if b > balance)
        assert await index.count_above(balance) == expected
    # /balance reads the same count in the wallet's own query (leaderboard_count_above): it must agree.
    repository = WalletRepository(database, index)
    for user_id, balance in list(wallets.items())[:50]:
        standing = await repository.get_standing(user_id, None, with_global=True)
        expected_above = sum(1 for b in wallets.values() if b > balance) if balance > 0 else None
        assert standing.global_above == expected_above, f"user {user_id} holding {balance}"
    stale = await database.pool.fetchval(
        "SELECT count(*) FROM economy_members m JOIN wallets w USING (user_id) WHERE m.balance <> w.balance"
    )
    assert stale == 0, "server-rank balances (economy_members) out of step with wallets"


@pytest.mark.asyncio
async def test_thousand_concurrent_transfers_from_two_pools_keep_every_point(
    database_url: str, database: Database, clock: ManualClock
) -> None:
    users = list(range(100, 150))
    economy = make_service(database, clock)
    for user in users:
        await economy.grant(OWNER, user, 1_000, "seed")
    balances_before = await WalletRepository(database, PostgresLeaderboardIndex(database)).balances()
    total = sum(balances_before.values())
    assert total == 50_000

    # A second pool, as a second shard process would have, with its own service objects.
    second_pool = await asyncpg.create_pool(database_url, min_size=2, max_size=20)
    try:
        other = make_service(Database(pool=second_pool, kind="external", description="second"), clock)
        rng = random.Random(3)
        outcomes: dict[str, int] = {"ok": 0, "refused": 0}

        async def one(service: EconomyService) -> None:
            sender, receiver = rng.sample(users, 2)
            try:
                await service.transfer(sender, receiver, rng.randint(1, 400), guild_id=GUILD)
                outcomes["ok"] += 1
            except InsufficientFunds:
                outcomes["refused"] += 1

        await asyncio.gather(*(one(economy if i % 2 else other) for i in range(1000)))
    finally:
        await second_pool.close()

    assert outcomes["ok"] + outcomes["refused"] == 1000
    assert outcomes["ok"] > 500
    after = await WalletRepository(database, PostgresLeaderboardIndex(database)).balances()
    assert sum(after.values()) == total
    await assert_invariants(database)
    ledger_rows = await database.pool.fetchval("SELECT count(*) FROM ledger WHERE kind LIKE 'transfer_%'")
    assert ledger_rows == 2 * outcomes["ok"]


@pytest.mark.asyncio
async def test_fifty_concurrent_dailies_pay_exactly_once(economy: EconomyService, database: Database) -> None:
    results = await asyncio.gather(
        *(economy.claim_daily(42, reference=f"interaction-{i}", guild_id=GUILD) for i in range(50)),
        return_exceptions=True,
    )
    paid = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, DailyAlreadyClaimed)]
    assert len(paid) == 1
    assert len(refused) == 49
    opens = datetime(2026, 3, 11, tzinfo=UTC).timestamp()
    assert all(r.until == opens for r in refused)
    assert await economy.balance(42) == 100
    await assert_invariants(database)


@pytest.mark.asyncio
async def test_a_retried_interaction_never_pays_twice(economy: EconomyService) -> None:
    first = await economy.claim_daily(7, reference="1234")
    again = await economy.claim_daily(7, reference="1234")
    assert not first.replayed
    assert again.replayed
    assert (again.amount, again.streak) == (first.amount, first.streak)
    assert await economy.balance(7) == 100


@pytest.mark.asyncio
async def test_day_boundary_in_the_configured_zone(database: Database) -> None:
    zone = ZoneInfo("America/New_York")
    clock = ManualClock(datetime(2026, 3, 10, 23, 59, 59, tzinfo=zone))
    economy = make_service(database, clock, timezone="America/New_York")
    first = await economy.claim_daily(5, reference="a")
    assert first.next_claim_at == datetime(2026, 3, 11, tzinfo=zone)
    # Still 23:59:59 in New York (04:59:59 UTC, already the 11th in UTC): too early.
    with pytest.raises(DailyAlreadyClaimed) as info:
        await economy.claim_daily(5, reference="b")
    assert info.value.until == datetime(2026, 3, 11, tzinfo=zone).timestamp()
    clock.advance(seconds=1)  # 00:00:00 on the 11th in New York
    second = await economy.claim_daily(5, reference="c")
    assert (second.streak, second.amount) == (2, 110)


@pytest.mark.asyncio
async def test_streak_grows_is_capped_and_restarts_after_a_missed_day(
    economy: EconomyService, clock: ManualClock
) -> None:
    amounts = []
    for day in range(13):
        result = await economy.claim_daily(8, reference=f"d{day}")
        amounts.append((result.streak, result.amount))
        clock.advance(days=1)
    assert amounts[:3] == [(1, 100), (2, 110), (3, 120)]
    assert amounts[10:] == [(11, 200), (12, 200), (13, 200)]  # +10 a day, capped at +100
    clock.advance(days=1)  # one day missed
    profile = await economy.profile(8, None)
    assert profile.streak == 0
    restarted = await economy.claim_daily(8, reference="after-gap")
    assert (restarted.streak, restarted.amount) == (1, 100)


@pytest.mark.asyncio
async def test_transfer_past_bigint_changes_neither_balance(economy: EconomyService, database: Database) -> None:
    await economy.grant(OWNER, 1, 1_000, "sender")
    await economy.grant(OWNER, 2, MAX_BALANCE - 10, "almost full")
    with pytest.raises(BalanceOverflow):
        await economy.transfer(1, 2, 11)
    assert await economy.balance(1) == 1_000
    assert await economy.balance(2) == MAX_BALANCE - 10
    assert await database.pool.fetchval("SELECT count(*) FROM ledger WHERE kind LIKE 'transfer_%'") == 0
    done = await economy.transfer(1, 2, 10)
    assert done.receiver_balance == MAX_BALANCE
    await assert_invariants(database)


@pytest.mark.asyncio
async def test_transfer_refusals(economy: EconomyService) -> None:
    await economy.grant(OWNER, 1, 50, "seed")
    for amount, receiver, bot, text in [
        (0, 2, False, "at least 1"),
        (1_000_001, 2, False, "at most"),
        (5, 1, False, "yourself"),
        (5, 2, True, "Bots"),
    ]:
        with pytest.raises(InvalidInput) as info:
            await economy.transfer(1, receiver, amount, receiver_is_bot=bot)
        assert text in info.value.user_message
    with pytest.raises(InsufficientFunds) as funds:
        await economy.transfer(1, 2, 51)
    assert (funds.value.balance, funds.value.needed) == (50, 51)


@pytest.mark.asyncio
async def test_a_refused_transfer_leaves_no_wallet_or_membership_behind(
    economy: EconomyService, database: Database
) -> None:
    # wallets_post creates missing wallets before it can see the refusal; the refusal must roll them back.
    with pytest.raises(InsufficientFunds) as funds:
        await economy.transfer(77, 78, 5, guild_id=900)
    assert (funds.value.balance, funds.value.needed) == (0, 5)
    assert await database.pool.fetchval("SELECT count(*) FROM wallets WHERE user_id IN (77, 78)") == 0
    assert await database.pool.fetchval("SELECT count(*) FROM economy_members WHERE guild_id = 900") == 0
    await assert_invariants(database)


@pytest.mark.asyncio
async def test_last_item_race_one_buyer_wins_the_other_is_not_charged(
    economy: EconomyService, database: Database
) -> None:
    await economy.add_item(GUILD, name="Golden Ticket", price=300, stock=1)
    for buyer in (11, 12):
        await economy.grant(OWNER, buyer, 500, "seed")
    results = await asyncio.gather(
        *(economy.buy(GUILD, buyer, "golden ticket") for buyer in (11, 12)), return_exceptions=True
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, OutOfStock)]
    assert len(winners) == 1
    assert len(losers) == 1
    assert "sold out" in losers[0].user_message
    balances = sorted([await economy.balance(11), await economy.balance(12)])
    assert balances == [200, 500]
    (item,) = await economy.items(GUILD)
    assert item.stock == 0
    owners = [b for b in (11, 12) if await economy.inventory(GUILD, b)]
    assert len(owners) == 1
    await assert_invariants(database)


@pytest.mark.asyncio
async def test_role_items_are_checked_before_any_charge_and_refunds_restore_everything(
    economy: EconomyService, database: Database
) -> None:
    await economy.add_item(GUILD, name="VIP", price=100, role_id=777, stock=3)
    await economy.grant(OWNER, 20, 150, "seed")
    with pytest.raises(RoleNotGrantable) as info:
        await economy.buy(GUILD, 20, "VIP", role_check=lambda _: RoleRefusal.ROLE_TOO_HIGH)
    assert info.value.reason is RoleRefusal.ROLE_TOO_HIGH
    assert await economy.balance(20) == 150
    bought = await economy.buy(GUILD, 20, "VIP", role_check=lambda _: None)
    assert (bought.balance, bought.item.stock) == (50, 2)
    assert await economy.refund_purchase(bought.purchase_id, "role grant failed") == 150
    assert await economy.refund_purchase(bought.purchase_id, "again") is None  # only once
    (item,) = await economy.items(GUILD)
    assert item.stock == 3
    assert await economy.inventory(GUILD, 20) == []
    kinds = [e.kind for e in await economy.history(20)]
    assert kinds == ["refund", "purchase", "grant"]
    await assert_invariants(database)


@pytest.mark.asyncio
async def test_removed_items_stay_in_inventories(economy: EconomyService) -> None:
    await economy.add_item(GUILD, name="Cookie", price=5, description="Crunchy")
    await economy.grant(OWNER, 30, 100, "seed")
    await economy.buy(GUILD, 30, "cookie", 3)
    await economy.remove_item(GUILD, "Cookie")
    assert await economy.items(GUILD) == []
    (entry,) = await economy.inventory(GUILD, 30)
    assert (entry.name, entry.quantity, entry.removed) == ("Cookie", 3, True)
    # The name is free again.
    await economy.add_item(GUILD, name="Cookie", price=6)


@pytest.mark.asyncio
async def test_grants_are_for_owners_and_revokes_cannot_go_negative(economy: EconomyService) -> None:
    with pytest.raises(OwnersOnly):
        await economy.grant(999, 3, 10, "nope")
    await economy.grant(OWNER, 3, 10, "welcome")
    with pytest.raises(InsufficientFunds):
        await economy.revoke(OWNER, 3, 11, "too much")
    assert (await economy.revoke(OWNER, 3, 10, "all")).balance == 0


@pytest.mark.asyncio
async def test_ranks_and_server_leaderboard(economy: EconomyService) -> None:
    for user, amount in [(1, 500), (2, 300), (3, 300), (4, 100)]:
        await economy.grant(OWNER, user, amount, "seed")
    await economy.transfer(2, 4, 1, guild_id=GUILD)  # 2 and 4 used the economy in GUILD
    board = await economy.leaderboard("global", caller_id=3, guild_id=GUILD)
    assert [(e.rank, e.user_id, e.balance) for e in board.entries] == [
        (1, 1, 500),
        (2, 3, 300),
        (3, 2, 299),
        (4, 4, 101),
    ]
    assert board.caller is not None
    assert board.caller.rank == 2
    server = await economy.leaderboard("server", caller_id=4, guild_id=GUILD)
    assert [(e.rank, e.user_id) for e in server.entries] == [(1, 2), (2, 4)]
    assert server.caller is not None
    assert server.caller.rank == 2
    profile = await economy.profile(4, GUILD)
    assert (profile.global_rank, profile.server_rank) == (4, 2)


@pytest.mark.asyncio
async def test_server_ranks_follow_every_balance_change(database_url: str) -> None:
    """economy_members.balance (0009) is kept in step by triggers; server ranks read it through an index."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("INSERT INTO wallets (user_id) VALUES (1), (2), (3)")
        await conn.execute("UPDATE wallets SET balance = 50 WHERE user_id = 1")
        await conn.execute("INSERT INTO economy_members (guild_id, user_id) VALUES (9, 1), (9, 2), (8, 1)")
        await conn.execute("UPDATE wallets SET balance = 70 WHERE user_id = 2")
        await conn.execute("UPDATE wallets SET balance = 20 WHERE user_id = 1")
        rows = await conn.fetch("SELECT guild_id, user_id, balance FROM economy_members ORDER BY guild_id, user_id")
        assert [tuple(r) for r in rows] == [(8, 1, 20), (9, 1, 20), (9, 2, 70)]
        mismatched = await conn.fetchval(
            "SELECT count(*) FROM economy_members m JOIN wallets w USING (user_id) WHERE m.balance <> w.balance"
        )
        assert mismatched == 0
    finally:
        await conn.close()


@pytest.mark.asyncio
async def test_transfers_between_wallets_of_equal_balance_do_not_queue_on_the_rank_index(
    database: Database, economy: EconomyService
) -> None:
    # Wallets with the same balance share their rank bucket. A writer that staged its bucket change and has not
    # committed yet must not hold up another transfer (migration 0010: deltas are appended, not updated in place).
    for user_id in (201, 202, 203, 204):
        await economy.grant(OWNER, user_id, 1_000, "seed")

    async with database.pool.acquire() as conn:
        open_writer = conn.transaction()
        await open_writer.start()
        try:
            # A transfer between two of them, written and not committed: its bucket deltas are staged.
            entries = [
                NewEntry(201, -1, "transfer_out", "open", None, 202),
                NewEntry(202, 1, "transfer_in", "open", None, 201),
            ]
            await post(conn, entries, datetime.now(UTC))
            result = await asyncio.wait_for(economy.transfer(203, 204, 1), timeout=5)
            assert (result.sender_balance, result.receiver_balance) == (999, 1_001)
        finally:
            await open_writer.rollback()
    await assert_invariants(database)


@pytest.mark.asyncio
async def test_folding_moves_the_deltas_and_keeps_every_count(
    database: Database, clock: ManualClock, economy: EconomyService
) -> None:
    for user_id in range(300, 340):
        await economy.grant(OWNER, user_id, 100 + (user_id % 7) * 300, "seed")
    for sender in range(300, 320):
        await economy.transfer(sender, sender + 20, 37)
    index = PostgresLeaderboardIndex(database)
    balances = sorted({0, 1, *(await WalletRepository(database, index).balances()).values()})
    before = [await index.count_above(balance) for balance in balances]
    assert await database.pool.fetchval("SELECT count(*) FROM leaderboard_bucket_deltas") > 0
    await index.fold()
    assert await database.pool.fetchval("SELECT count(*) FROM leaderboard_bucket_deltas") == 0
    assert [await index.count_above(balance) for balance in balances] == before
    folded = await database.pool.fetch("SELECT level, bucket, wallets FROM leaderboard_buckets WHERE wallets <> 0")
    await index.rebuild()
    rebuilt = await database.pool.fetch("SELECT level, bucket, wallets FROM leaderboard_buckets WHERE wallets <> 0")
    assert sorted(map(tuple, folded)) == sorted(map(tuple, rebuilt))
    await assert_invariants(database)
