"""Reference bot latency (issue #12): discord.py 2.7 + aiosqlite running /ping, /balance, /pay, as Hanabi does.

    .venv/bin/pip install "discord.py==2.7.*" aiosqlite    # once; not Hanabi dependencies
    .venv/bin/python bench/reference.py [--rates 50,200,500,1000,1500] [--seconds 10] [--quick] [--json out]

The same fake Discord, world (4,000 members holding 1,000,000 points each), open-loop steps, CPU pinning and
figures as bench/interactions.py, so the rows compare line by line; only the bot differs: bench/reference/bot.py
with its wallets in SQLite under its DATA_DIR (seeded before it starts) instead of Hanabi with PostgreSQL.
Before any load, every command's replies (refusals included) are checked; after it, that no point was created or
lost and that every answered /pay left exactly one ledger row.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
from pathlib import Path

from _harness import (
    BenchDiscord,
    bot_session,
)
from interactions import Plan, build, command_line, measure
from reference.store import database_path, seed_wallets

from tests.harness.discord import FakeMember

BOT = Path(__file__).resolve().parent / "reference" / "bot.py"
BALANCE = 1_000_000


def check_dependencies() -> None:
    missing = [name for name in ("discord", "aiosqlite") if importlib.util.find_spec(name) is None]
    if missing:
        sys.exit(
            f"The reference bot needs {' and '.join(missing)}, which Hanabi does not depend on. Install them with:\n"
            '    .venv/bin/pip install "discord.py==2.7.*" aiosqlite'
        )


async def seed(data_dir: Path, fake: BenchDiscord) -> None:
    guild = next(iter(fake.guilds.values()))
    seed_wallets(data_dir, [m.id for m in guild.members.values()], BALANCE)


def people(fake: BenchDiscord) -> list[FakeMember]:
    guild = next(iter(fake.guilds.values()))
    return [m for m in guild.members.values() if not m.user.get("bot") and m.id != fake.owner_id]


async def check_replies(fake: BenchDiscord) -> None:
    """Every command answers, and answers right (refusals included), before anything is timed."""
    alice, bob = people(fake)[-2:]  # the load starts with the first members: these two are still untouched

    async def expect(
        name: str, options: dict[str, object] | None, user: FakeMember, *wanted: str, ephemeral: bool = False
    ) -> None:
        reply = await fake.slash(name, options, user=user)
        text = reply.content or ""
        ok = all(w in text for w in wanted) and reply.ephemeral == ephemeral and not reply.errors
        shown = {k: getattr(v, "username", v) for k, v in (options or {}).items()}
        print(f"  /{name} {shown or ''}: {'ok' if ok else 'WRONG'} {text!r}{' (ephemeral)' if reply.ephemeral else ''}")
        if not ok:
            raise SystemExit(f"/{name}: expected {wanted} (ephemeral={ephemeral}), got {reply}")

    print("checking replies:", flush=True)
    await expect("ping", None, alice, "Pong!", " ms")
    await expect("balance", None, alice, f"<@{alice.id}>", "**1,000,000**")
    await expect("pay", {"user": bob, "amount": 5}, alice, "sent **5** points", "**999,995**")
    await expect("balance", {"user": bob}, alice, f"<@{bob.id}>", "**1,000,005**")
    await expect("pay", {"user": bob, "amount": 0}, alice, "at least 1", ephemeral=True)
    await expect("pay", {"user": alice, "amount": 1}, alice, "cannot pay yourself", ephemeral=True)
    await expect("pay", {"user": bob, "amount": 10_000_000}, alice, "only have **999,995**", ephemeral=True)
    await expect("balance", None, alice, "**999,995**")


def check_ledger(data_dir: Path) -> str:
    """No point created or lost, and every wallet equals its seed plus what the ledger says it paid and received."""
    conn = sqlite3.connect(database_path(data_dir))
    try:
        wallets, total = conn.execute("SELECT COUNT(*), SUM(balance) FROM wallets").fetchone()
        (rows,) = conn.execute("SELECT COUNT(*) FROM ledger").fetchone()
        (wrong,) = conn.execute(
            """
            WITH moved AS (
                SELECT user_id, SUM(delta) AS delta FROM (
                    SELECT payer_id AS user_id, -amount AS delta FROM ledger
                    UNION ALL SELECT payee_id, amount FROM ledger
                ) GROUP BY user_id
            )
            SELECT COUNT(*) FROM wallets LEFT JOIN moved USING (user_id)
            WHERE balance != ? + COALESCE(moved.delta, 0)
            """,
            (BALANCE,),
        ).fetchone()
    finally:
        conn.close()
    ok = total == wallets * BALANCE and wrong == 0
    return (
        f"ledger {'ok' if ok else 'WRONG'}: {wallets} wallets holding {total:,} points "
        f"(seeded {wallets * BALANCE:,}), {rows} transfers, {wrong} wallet(s) disagreeing with the ledger"
    )


async def run(plan: Plan) -> dict[str, object]:
    async with bot_session(
        build, settings=plan.settings, command=[sys.executable, str(BOT)], postgres=False, seed_data_dir=seed
    ) as session:
        await check_replies(session.fake)
        # The very steps (and senders: same members, same payloads) bench/interactions.py measures Hanabi with.
        figures = await measure(session, plan)
        print(f"reference bot RSS: {figures['bot_rss_mb']} MB", flush=True)
        print(check_ledger(session.tmp), flush=True)
    return figures


def main() -> None:
    check_dependencies()
    command_line(__doc__.splitlines()[0], run, "reference")


if __name__ == "__main__":
    main()
