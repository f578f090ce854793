"""Per-server shop items, members' inventories, purchases and their refunds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from hanabi.infra.db import Database
from hanabi.repositories.leaderboard import LeaderboardIndex
from hanabi.repositories.ledger import NewEntry
from hanabi.repositories.wallets import Wallet, lock_wallets, post

_COLUMNS = "id, guild_id, name, description, price, role_id, stock, removed_at"
EDITABLE = frozenset({"name", "description", "price", "role_id", "stock"})


@dataclass(frozen=True, slots=True)
class ShopItem:
    id: int
    guild_id: int
    name: str
    description: str
    price: int
    role_id: int | None
    stock: int | None  # None: unlimited
    removed_at: datetime | None = None

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> ShopItem:
        return cls(**dict(record))


@dataclass(frozen=True, slots=True)
class InventoryEntry:
    item_id: int
    name: str
    quantity: int
    role_id: int | None
    removed: bool  # no longer sold; members keep what they own


@dataclass(frozen=True, slots=True)
class PurchaseRecord:
    id: int
    item: ShopItem  # as it is after the purchase (stock reduced)
    quantity: int
    total: int
    wallet: Wallet


class DuplicateItemName(Exception):
    """Another item in this server already has that name."""


class ShopRepository:
    def __init__(self, database: Database, index: LeaderboardIndex) -> None:
        self._pool = database.pool
        self._index = index

    async def list_items(self, guild_id: int) -> list[ShopItem]:
        records = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM shop_items WHERE guild_id = $1 AND removed_at IS NULL ORDER BY price, lower(name)",
            guild_id,
        )
        return [ShopItem.from_record(r) for r in records]

    async def find_item(self, guild_id: int, name: str) -> ShopItem | None:
        record = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM shop_items WHERE guild_id = $1 AND lower(name) = lower($2) AND removed_at IS NULL",
            guild_id,
            name.strip(),
        )
        return ShopItem.from_record(record) if record else None

    async def search_items(self, guild_id: int, text: str, limit: int = 25) -> list[ShopItem]:
        pattern = "%" + text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        records = await self._pool.fetch(
            f"""
            SELECT {_COLUMNS} FROM shop_items
            WHERE guild_id = $1 AND removed_at IS NULL AND lower(name) LIKE $2
            ORDER BY lower(name) NOT LIKE $3, lower(name) LIMIT $4
            """,
            guild_id,
            pattern,
            pattern[1:],
            limit,
        )
        return [ShopItem.from_record(r) for r in records]

    async def add_item(
        self,
        guild_id: int,
        *,
        name: str,
        description: str,
        price: int,
        role_id: int | None,
        stock: int | None,
        at: datetime,
    ) -> ShopItem:
        try:
            record = await self._pool.fetchrow(
                f"""
                INSERT INTO shop_items (guild_id, name, description, price, role_id, stock, created_at, updated_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {_COLUMNS}
                """,
                guild_id,
                name,
                description,
                price,
                role_id,
                stock,
                at,
            )
        except asyncpg.UniqueViolationError:
            raise DuplicateItemName(name) from None
        if record is None:
            raise RuntimeError("insert returned no row")
        return ShopItem.from_record(record)

    async def edit_item(self, item_id: int, changes: dict[str, object], at: datetime) -> ShopItem | None:
        unknown = set(changes) - EDITABLE
        if unknown:
            raise ValueError(f"not editable: {sorted(unknown)}")
        columns = sorted(changes)
        # Column names come from the EDITABLE allowlist above, never from user input.
        assignments = "".join(f"{col} = ${i + 3}, " for i, col in enumerate(columns))
        try:
            record = await self._pool.fetchrow(
                f"UPDATE shop_items SET {assignments}updated_at = $2 WHERE id = $1 AND removed_at IS NULL "
                f"RETURNING {_COLUMNS}",
                item_id,
                at,
                *(changes[c] for c in columns),
            )
        except asyncpg.UniqueViolationError:
            raise DuplicateItemName(str(changes.get("name"))) from None
        return ShopItem.from_record(record) if record else None

    async def remove_item(self, item_id: int, at: datetime) -> bool:
        status = await self._pool.execute(
            "UPDATE shop_items SET removed_at = $2, updated_at = $2 WHERE id = $1 AND removed_at IS NULL", item_id, at
        )
        return status.endswith(" 1")

    async def inventory(self, guild_id: int, user_id: int) -> list[InventoryEntry]:
        records = await self._pool.fetch(
            """
            SELECT i.item_id, s.name, i.quantity, s.role_id, s.removed_at IS NOT NULL AS removed
            FROM inventories i JOIN shop_items s ON s.id = i.item_id
            WHERE i.guild_id = $1 AND i.user_id = $2 AND i.quantity > 0
            ORDER BY lower(s.name)
            """,
            guild_id,
            user_id,
        )
        return [InventoryEntry(**dict(r)) for r in records]

    async def purchase(
        self,
        *,
        guild_id: int,
        user_id: int,
        item_id: int,
        quantity: int,
        reference: str,
        at: datetime,
        guard: Callable[[ShopItem | None, Wallet], int],
    ) -> PurchaseRecord:
        """Stock, balance, ledger and inventory change together or not at all. `guard` returns the total price."""
        async with self._pool.acquire() as conn, conn.transaction():
            record = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM shop_items WHERE id = $1 AND guild_id = $2 FOR UPDATE", item_id, guild_id
            )
            item = ShopItem.from_record(record) if record else None
            locked = await lock_wallets(conn, [user_id])
            total = guard(item, locked[user_id])
            if item is None:
                raise RuntimeError("the purchase guard accepted a missing item")
            stock = item.stock - quantity if item.stock is not None else None
            if stock is not None:
                await conn.execute("UPDATE shop_items SET stock = $2 WHERE id = $1", item.id, stock)
            purchase_id = await conn.fetchval(
                """
                INSERT INTO purchases (guild_id, user_id, item_id, quantity, total, reference, created_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id
                """,
                guild_id,
                user_id,
                item.id,
                quantity,
                total,
                reference,
                at,
            )
            entry = NewEntry(
                user_id, -total, "purchase", f"purchase:{purchase_id}", guild_id=guild_id, note=item.name[:200]
            )
            wallets, changes = await post(conn, [entry], at, guild_id=guild_id, members=[user_id])
            await conn.execute(
                """
                INSERT INTO inventories AS i (user_id, item_id, guild_id, quantity, updated_at)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (user_id, item_id) DO UPDATE SET quantity = i.quantity + EXCLUDED.quantity,
                    updated_at = EXCLUDED.updated_at
                """,
                user_id,
                item.id,
                guild_id,
                quantity,
                at,
            )
        await self._index.published(changes)
        after = ShopItem(item.id, item.guild_id, item.name, item.description, item.price, item.role_id, stock)
        return PurchaseRecord(int(purchase_id), after, quantity, total, wallets[user_id])

    async def refund(self, purchase_id: int, *, note: str, at: datetime) -> Wallet | None:
        """Undo a purchase: points back (ledger kind "refund"), stock back, inventory down. None if already done."""
        async with self._pool.acquire() as conn, conn.transaction():
            purchase = await conn.fetchrow(
                "SELECT guild_id, user_id, item_id, quantity, total FROM purchases WHERE id = $1", purchase_id
            )
            if purchase is None:
                return None
            await conn.execute("SELECT 1 FROM shop_items WHERE id = $1 FOR UPDATE", purchase["item_id"])
            done = await conn.fetchval(
                "UPDATE purchases SET refunded_at = $2 WHERE id = $1 AND refunded_at IS NULL RETURNING id",
                purchase_id,
                at,
            )
            if done is None:
                return None
            await conn.execute(
                "UPDATE shop_items SET stock = stock + $2 WHERE id = $1 AND stock IS NOT NULL",
                purchase["item_id"],
                purchase["quantity"],
            )
            await conn.execute(
                "UPDATE inventories SET quantity = GREATEST(quantity - $3, 0), updated_at = $4 "
                "WHERE user_id = $1 AND item_id = $2",
                purchase["user_id"],
                purchase["item_id"],
                purchase["quantity"],
                at,
            )
            user_id = int(purchase["user_id"])
            entry = NewEntry(
                user_id,
                int(purchase["total"]),
                "refund",
                f"purchase:{purchase_id}",
                guild_id=int(purchase["guild_id"]),
                note=note[:200],
            )
            wallets, changes = await post(conn, [entry], at)
        await self._index.published(changes)
        return wallets[user_id]
