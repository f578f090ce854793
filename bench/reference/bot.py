"""The reference bot of issue #12: a small discord.py 2.7 bot with aiosqlite, written as a typical user would.

    .venv/bin/pip install "discord.py==2.7.*" aiosqlite     # not Hanabi dependencies
    DISCORD_TOKEN=... DATA_DIR=data .venv/bin/python bench/reference/bot.py

`/ping` answers with the gateway latency (no I/O but the reply), `/balance [user]` reads one wallet, `/pay user
amount` moves points in one transaction (check, debit, credit, ledger row). A `discord.Client` with an
`app_commands.CommandTree`, default intents (no privileged ones) and default caches; the tree is synced on start.

Settings come from the environment, as Hanabi's do: DISCORD_TOKEN, DATA_DIR (the SQLite file lives there) and
DISCORD_REST_URL (another REST base, e.g. a proxy or the benchmarks' fake Discord; the gateway address is then
taken from that REST's GET /gateway/bot, as sharded clients do).
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
from pathlib import Path

try:
    import aiosqlite
    import discord
    import yarl
    from discord import app_commands
    from discord.gateway import DiscordWebSocket
except ModuleNotFoundError as missing:
    sys.exit(
        f"The reference bot needs discord.py and aiosqlite ({missing}); they are not Hanabi dependencies. "
        'Install them with: .venv/bin/pip install "discord.py==2.7.*" aiosqlite'
    )

from store import SCHEMA, database_path


class InsufficientFundsError(Exception):
    def __init__(self, balance: int) -> None:
        super().__init__(f"balance {balance}")
        self.balance = balance


class Wallets:
    """Points in SQLite: one connection reads, another writes (one transaction at a time, under a lock).

    A SQLite connection runs one transaction at a time, so concurrent /pay commands must not interleave on it;
    reads go through their own connection and, with WAL, see only committed balances and never wait for a writer.
    """

    def __init__(self, reader: aiosqlite.Connection, writer: aiosqlite.Connection) -> None:
        self._reader = reader
        self._writer = writer
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> Wallets:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await aiosqlite.connect(path, isolation_level=None)  # transactions are begun explicitly
        await writer.executescript(SCHEMA)
        reader = await aiosqlite.connect(path, isolation_level=None)
        return cls(reader, writer)

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()

    async def balance(self, user_id: int) -> int:
        async with self._reader.execute("SELECT balance FROM wallets WHERE user_id = ?", (user_id,)) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def transfer(self, payer_id: int, payee_id: int, amount: int) -> int:
        """Move `amount` points; returns the payer's new balance. Raises InsufficientFundsError."""
        async with self._write_lock:
            db = self._writer
            await db.execute("BEGIN IMMEDIATE")
            try:
                async with db.execute("SELECT balance FROM wallets WHERE user_id = ?", (payer_id,)) as cursor:
                    row = await cursor.fetchone()
                balance = int(row[0]) if row else 0
                if balance < amount:
                    raise InsufficientFundsError(balance)
                await db.execute("UPDATE wallets SET balance = balance - ? WHERE user_id = ?", (amount, payer_id))
                await db.execute(
                    "INSERT INTO wallets (user_id, balance) VALUES (?, ?) "
                    "ON CONFLICT(user_id) DO UPDATE SET balance = balance + excluded.balance",
                    (payee_id, amount),
                )
                await db.execute(
                    "INSERT INTO ledger (payer_id, payee_id, amount) VALUES (?, ?, ?)", (payer_id, payee_id, amount)
                )
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")
            return balance - amount


class ReferenceBot(discord.Client):
    def __init__(self, data_dir: Path, *, custom_rest: bool) -> None:
        super().__init__(intents=discord.Intents.default())
        self.tree = app_commands.CommandTree(self)
        self.data_dir = data_dir
        self.custom_rest = custom_rest
        self._wallets: Wallets | None = None

    @property
    def wallets(self) -> Wallets:
        if self._wallets is None:
            raise RuntimeError("the database is not open yet")
        return self._wallets

    async def setup_hook(self) -> None:
        self._wallets = await Wallets.open(database_path(self.data_dir))
        if self.custom_rest:
            # discord.Client connects to wss://gateway.discord.gg unless told otherwise; ask this REST where to go.
            _, url, _ = await self.http.get_bot_gateway()
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        synced = await self.tree.sync()
        print(f"synced {len(synced)} commands: {', '.join(c.name for c in synced)}", flush=True)

    async def on_ready(self) -> None:
        print(f"ready as {self.user} in {len(self.guilds)} guild(s)", flush=True)

    async def close(self) -> None:
        if self._wallets is not None:
            await self._wallets.close()
            self._wallets = None
        await super().close()


DATA_DIR = Path(os.environ.get("DATA_DIR", "data"))
REST_URL = os.environ.get("DISCORD_REST_URL")
if REST_URL:
    discord.http.Route.BASE = REST_URL.rstrip("/")  # every REST call, interaction callbacks included, uses it

client = ReferenceBot(DATA_DIR, custom_rest=bool(REST_URL))
NO_MENTIONS = discord.AllowedMentions.none()


@client.tree.command(description="Check that the bot is alive")
async def ping(interaction: discord.Interaction[ReferenceBot]) -> None:
    latency = interaction.client.latency
    shown = f"{latency * 1000:.0f} ms" if math.isfinite(latency) else "measuring…"
    await interaction.response.send_message(f"Pong! Gateway latency: {shown}")


@client.tree.command(description="Show a balance")
@app_commands.describe(user="Whose balance (yours if left out)")
async def balance(interaction: discord.Interaction[ReferenceBot], user: discord.User | None = None) -> None:
    target = user or interaction.user
    points = await interaction.client.wallets.balance(target.id)
    await interaction.response.send_message(
        f"{target.mention} has **{points:,}** points.", allowed_mentions=NO_MENTIONS
    )


@client.tree.command(description="Send points to someone")
@app_commands.describe(user="Who receives the points", amount="How many points")
async def pay(interaction: discord.Interaction[ReferenceBot], user: discord.User, amount: int) -> None:
    if amount <= 0:
        await interaction.response.send_message("The amount must be at least 1 point.", ephemeral=True)
        return
    if user.id == interaction.user.id:
        await interaction.response.send_message("You cannot pay yourself.", ephemeral=True)
        return
    try:
        left = await interaction.client.wallets.transfer(interaction.user.id, user.id, amount)
    except InsufficientFundsError as short:
        await interaction.response.send_message(
            f"You only have **{short.balance:,}** points, not {amount:,}.", ephemeral=True
        )
        return
    await interaction.response.send_message(
        f"{interaction.user.mention} sent **{amount:,}** points to {user.mention}. Your balance: **{left:,}**.",
        allowed_mentions=NO_MENTIONS,
    )


if __name__ == "__main__":
    client.run(os.environ["DISCORD_TOKEN"])
