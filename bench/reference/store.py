"""The reference bot's SQLite schema, and seeding for benchmarks (standard library only: no discord.py needed)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

DATABASE_FILE = "economy.sqlite3"  # under DATA_DIR

# WAL lets the bot read through one connection while another writes; synchronous stays at its default (FULL), so
# every commit is on disk before the bot answers, as with PostgreSQL's defaults.
SCHEMA = """
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS wallets (
    user_id INTEGER PRIMARY KEY,
    balance INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY,
    payer_id INTEGER NOT NULL,
    payee_id INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
"""


def database_path(data_dir: Path) -> Path:
    return data_dir / DATABASE_FILE


def seed_wallets(data_dir: Path, user_ids: Iterable[int], balance: int = 1_000_000) -> Path:
    """Create the schema under `data_dir` and give every user `balance` points (before the bot starts)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = database_path(data_dir)
    conn = sqlite3.connect(path)
    try:
        conn.executescript(SCHEMA)
        with conn:
            conn.executemany(
                "INSERT INTO wallets (user_id, balance) VALUES (?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET balance = excluded.balance",
                ((user_id, balance) for user_id in user_ids),
            )
    finally:
        conn.close()
    return path
