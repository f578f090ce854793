"""The points economy: wallets, daily rewards, transfers, the shop and the leaderboards.

Plain async Python: Discord is known only as integer snowflakes, time comes from the injected Clock, and
every refusal is a DomainError subclass carrying the text the user sees. Writes run in one transaction each
(see hanabi.repositories.wallets); serialization failures and deadlocks are retried here, so users never see
them.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import uuid
import zoneinfo
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, TypeVar

import asyncpg

from hanabi.errors import CooldownActive, DomainError, InvalidInput, NotFound, PermissionDenied, ServiceUnavailable
from hanabi.infra.clock import Clock
from hanabi.repositories.leaderboard import LeaderboardIndex
from hanabi.repositories.ledger import LedgerEntry, LedgerRepository, NewEntry
from hanabi.repositories.shop import DuplicateItemName, InventoryEntry, ShopItem, ShopRepository
from hanabi.repositories.wallets import MAX_BALANCE, BalanceOutOfRange, DailyDecision, Wallet, WalletRepository

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_NOTE = 200
MAX_ITEM_NAME = 50
MAX_ITEM_DESCRIPTION = 200
MAX_QUANTITY = 1000
HISTORY_SIZE = 20
_RETRYABLE = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError, asyncpg.LockNotAvailableError)


# errors ------------------------------------------------------------------------------------------------------------


class InsufficientFunds(DomainError):
    def __init__(self, user_message: str, *, balance: int, needed: int) -> None:
        super().__init__(user_message)
        self.balance = balance
        self.needed = needed


class DailyAlreadyClaimed(CooldownActive):
    """Today's daily was claimed; `until` is when the next one opens."""


class BalanceOverflow(DomainError):
    """The change would push a balance past the largest amount a wallet can hold."""


class OutOfStock(DomainError):
    def __init__(self, user_message: str, *, left: int) -> None:
        super().__init__(user_message)
        self.left = left


class ItemNotFound(NotFound):
    pass


class RoleNotGrantable(PermissionDenied):
    def __init__(self, user_message: str, *, reason: RoleRefusal) -> None:
        super().__init__(user_message)
        self.reason = reason


class OwnersOnly(PermissionDenied):
    pass


class EconomyBusy(ServiceUnavailable):
    pass


class RoleRefusal(enum.Enum):
    """Why a shop role cannot be granted, as the Discord adapter found it in its cache."""

    MISSING_MANAGE_ROLES = "I need the **Manage Roles** permission to hand out that item's role."
    ROLE_TOO_HIGH = "That item's role is above my highest role, so I cannot give it. Ask an admin to move it below."
    ROLE_DELETED = "That item's role no longer exists. Ask an admin to edit or remove the item."
    ROLE_MANAGED = "That item's role is managed by an integration and cannot be given by me."
    ALREADY_HAS_ROLE = "You already have that item's role."


# settings and results ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EconomyConfig:
    currency_name: str = "points"
    currency_symbol: str = "🪙"
    daily_base: int = 100
    daily_streak_bonus: int = 10
    daily_streak_cap: int = 100
    timezone: str = "UTC"
    transfer_cap: int = 1_000_000
    owner_ids: frozenset[int] = field(default_factory=frozenset)

    def amount(self, points: int) -> str:
        """`🪙 1,234 points`: how amounts read everywhere."""
        return f"{self.currency_symbol} {points:,} {self.currency_name}".strip()


@dataclass(frozen=True, slots=True)
class DailyResult:
    amount: int
    streak: int
    balance: int
    next_claim_at: datetime
    replayed: bool


@dataclass(frozen=True, slots=True)
class TransferResult:
    sender_id: int
    receiver_id: int
    amount: int
    sender_balance: int
    receiver_balance: int


@dataclass(frozen=True, slots=True)
class AdjustResult:
    user_id: int
    delta: int
    balance: int


@dataclass(frozen=True, slots=True)
class Profile:
    user_id: int
    balance: int
    global_rank: int | None  # None: no points yet
    server_rank: int | None  # None: no points, not active in this server, or not in a server
    streak: int  # the streak that continues with the next claim (0 when it was broken)
    claimed_today: bool
    next_daily_at: datetime  # now or the next day's start


@dataclass(frozen=True, slots=True)
class RankedEntry:
    rank: int
    user_id: int
    balance: int


@dataclass(frozen=True, slots=True)
class Leaderboard:
    scope: Literal["server", "global"]
    entries: list[RankedEntry]
    caller: RankedEntry | None


@dataclass(frozen=True, slots=True)
class PurchaseResult:
    purchase_id: int
    item: ShopItem
    quantity: int
    total: int
    balance: int


# the service -------------------------------------------------------------------------------------------------------


class EconomyService:
    def __init__(
        self,
        *,
        wallets: WalletRepository,
        ledger: LedgerRepository,
        shop: ShopRepository,
        index: LeaderboardIndex,
        clock: Clock,
        config: EconomyConfig,
        max_attempts: int = 12,
    ) -> None:
        self._wallets = wallets
        self._ledger = ledger
        self._shop = shop
        self._index = index
        # The PostgreSQL index lives in the wallets' database: its count comes in the wallet's own query.
        self._global_in_wallet_query = index.kind == "postgres"
        self._clock = clock
        self.config = config
        self._zone = zoneinfo.ZoneInfo(config.timezone)
        self._max_attempts = max_attempts

    # days ----------------------------------------------------------------------------------------------------------

    def today(self) -> date:
        """The calendar day in the economy's time zone."""
        return self._clock.now().astimezone(self._zone).date()

    def day_start(self, day: date) -> datetime:
        """When `day` begins in the economy's time zone, as an aware UTC datetime."""
        return datetime.combine(day, time(0), tzinfo=self._zone).astimezone(UTC)

    # reads ---------------------------------------------------------------------------------------------------------

    async def profile(self, user_id: int, guild_id: int | None) -> Profile:
        standing = await self._wallets.get_standing(user_id, guild_id, with_global=self._global_in_wallet_query)
        wallet = standing.wallet or Wallet(user_id)
        today = self.today()
        claimed_today = wallet.last_daily is not None and wallet.last_daily >= today
        alive = wallet.last_daily is not None and wallet.last_daily >= today - timedelta(days=1)
        global_rank = None
        if wallet.balance > 0:
            global_rank = await self._global_above(wallet.balance, standing.global_above) + 1
        server_rank = standing.server_above + 1 if standing.server_above is not None else None
        return Profile(
            user_id=user_id,
            balance=wallet.balance,
            global_rank=global_rank,
            server_rank=server_rank,
            streak=wallet.streak if alive else 0,
            claimed_today=claimed_today,
            next_daily_at=self.day_start(today + timedelta(days=1)) if claimed_today else self._clock.now(),
        )

    async def balance(self, user_id: int) -> int:
        wallet = await self._wallets.get(user_id)
        return wallet.balance if wallet else 0

    async def history(self, user_id: int, limit: int = HISTORY_SIZE) -> list[LedgerEntry]:
        return await self._ledger.recent(user_id, limit)

    async def leaderboard(
        self, scope: Literal["server", "global"], *, caller_id: int, guild_id: int | None, size: int = 50
    ) -> Leaderboard:
        if scope == "server":
            if guild_id is None:
                raise InvalidInput("The server leaderboard only exists in a server. Use `scope: global` here.")
            wallets = await self._wallets.guild_top(guild_id, size)
        else:
            wallets = await self._wallets.top(size)
        entries: list[RankedEntry] = []
        for position, wallet in enumerate(wallets, start=1):
            tied = entries and entries[-1].balance == wallet.balance
            entries.append(RankedEntry(entries[-1].rank if tied else position, wallet.user_id, wallet.balance))
        caller: RankedEntry | None = None
        standing = await self._wallets.get_standing(
            caller_id,
            guild_id if scope == "server" else None,
            with_global=scope == "global" and self._global_in_wallet_query,
        )
        mine = standing.wallet
        if mine is not None and mine.balance > 0:
            if scope == "global":
                above = await self._global_above(mine.balance, standing.global_above)
                caller = RankedEntry(above + 1, caller_id, mine.balance)
            elif standing.server_above is not None:
                caller = RankedEntry(standing.server_above + 1, caller_id, mine.balance)
        return Leaderboard(scope, entries, caller)

    async def _global_above(self, balance: int, counted: int | None) -> int:
        """Wallets holding more than `balance`: `counted` when the wallet's query brought it, else the index."""
        return counted if counted is not None else await self._index.count_above(balance)

    async def global_rank(self, user_id: int) -> int | None:
        wallet = await self._wallets.get(user_id)
        if wallet is None or wallet.balance <= 0:
            return None
        return await self._index.count_above(wallet.balance) + 1

    # daily ---------------------------------------------------------------------------------------------------------

    async def claim_daily(self, user_id: int, *, reference: str, guild_id: int | None = None) -> DailyResult:
        """Claim today's reward once. `reference` (the interaction id) makes a retried claim pay only once."""

        async def attempt() -> DailyResult:
            today = self.today()
            claim = await self._wallets.claim_daily(
                user_id,
                reference=reference,
                guild_id=guild_id,
                at=self._clock.now(),
                decide=lambda wallet: self._decide_daily(wallet, today),
            )
            return DailyResult(
                amount=claim.amount,
                streak=claim.streak,
                balance=claim.balance,
                next_claim_at=self.day_start(claim.day + timedelta(days=1)),
                replayed=claim.replayed,
            )

        return await self._retrying(attempt)

    def daily_amount(self, streak: int) -> int:
        bonus = min(self.config.daily_streak_bonus * max(streak - 1, 0), self.config.daily_streak_cap)
        return self.config.daily_base + bonus

    def _decide_daily(self, wallet: Wallet, today: date) -> DailyDecision:
        if wallet.last_daily is not None and wallet.last_daily >= today:
            opens = self.day_start(today + timedelta(days=1))
            raise DailyAlreadyClaimed(
                f"You have already claimed today's daily reward. The next one opens at 00:00 ({self.config.timezone}).",
                until=opens.timestamp(),
            )
        continues = wallet.last_daily is not None and wallet.last_daily == today - timedelta(days=1)
        streak = wallet.streak + 1 if continues else 1
        amount = self.daily_amount(streak)
        if wallet.balance + amount > MAX_BALANCE:
            raise BalanceOverflow("Your wallet is full: it cannot hold any more points.")
        return DailyDecision(day=today, streak=streak, amount=amount)

    # transfers -----------------------------------------------------------------------------------------------------

    async def transfer(
        self,
        sender_id: int,
        receiver_id: int,
        amount: int,
        *,
        receiver_is_bot: bool = False,
        guild_id: int | None = None,
        note: str | None = None,
        reference: str | None = None,
    ) -> TransferResult:
        """Move points atomically from one wallet to another."""
        cap = self.config.transfer_cap
        if amount < 1:
            raise InvalidInput(f"Send at least 1 {self.config.currency_name}.")
        if amount > cap:
            raise InvalidInput(f"You can send at most {self.config.amount(cap)} at a time.")
        if sender_id == receiver_id:
            raise InvalidInput("You cannot pay yourself.")
        if receiver_is_bot:
            raise InvalidInput("Bots do not have wallets; pay a person instead.")
        note = _clean_note(note)
        ref = reference or uuid.uuid4().hex

        entries = [
            NewEntry(sender_id, -amount, "transfer_out", ref, guild_id, receiver_id, note),
            NewEntry(receiver_id, amount, "transfer_in", ref, guild_id, sender_id, note),
        ]

        async def attempt() -> TransferResult:
            try:
                wallets = await self._wallets.apply(
                    entries, at=self._clock.now(), guild_id=guild_id, members=[sender_id, receiver_id]
                )
            except BalanceOutOfRange as refused:
                have = refused.balances[sender_id]
                short = f"You have {self.config.amount(have)}, not enough to send {self.config.amount(amount)}."
                raise _refusal(have, amount, short) from None
            return TransferResult(
                sender_id, receiver_id, amount, wallets[sender_id].balance, wallets[receiver_id].balance
            )

        return await self._retrying(attempt)

    # owner grants --------------------------------------------------------------------------------------------------

    async def grant(
        self, actor_id: int, user_id: int, amount: int, reason: str, *, guild_id: int | None = None
    ) -> AdjustResult:
        return await self._adjust(actor_id, user_id, amount, reason, guild_id=guild_id)

    async def revoke(
        self, actor_id: int, user_id: int, amount: int, reason: str, *, guild_id: int | None = None
    ) -> AdjustResult:
        return await self._adjust(actor_id, user_id, -amount, reason, guild_id=guild_id)

    async def _adjust(
        self, actor_id: int, user_id: int, delta: int, reason: str, *, guild_id: int | None
    ) -> AdjustResult:
        if actor_id not in self.config.owner_ids:
            raise OwnersOnly("Only the bot's owners can grant or revoke points.")
        if delta == 0 or abs(delta) > MAX_BALANCE:
            raise InvalidInput(f"The amount must be between 1 and {MAX_BALANCE:,}.")
        note = _clean_note(reason)
        if note is None:
            raise InvalidInput("Give a reason; it is written to the ledger.")

        entry = NewEntry(user_id, delta, "grant" if delta > 0 else "revoke", uuid.uuid4().hex, guild_id, actor_id, note)

        async def attempt() -> AdjustResult:
            try:
                wallets = await self._wallets.apply([entry], at=self._clock.now(), guild_id=None)
            except BalanceOutOfRange as refused:
                have = refused.balances[user_id]
                short = f"They only have {self.config.amount(have)}; you cannot revoke {self.config.amount(-delta)}."
                raise _refusal(have, -delta, short) from None
            return AdjustResult(user_id, delta, wallets[user_id].balance)

        return await self._retrying(attempt)

    # shop ----------------------------------------------------------------------------------------------------------

    async def items(self, guild_id: int) -> list[ShopItem]:
        return await self._shop.list_items(guild_id)

    async def search_items(self, guild_id: int, text: str) -> list[ShopItem]:
        return await self._shop.search_items(guild_id, text[:MAX_ITEM_NAME])

    async def item(self, guild_id: int, name: str) -> ShopItem:
        item = await self._shop.find_item(guild_id, name)
        if item is None:
            raise ItemNotFound(f"There is no item called **{name[:MAX_ITEM_NAME]}** in this server's shop.")
        return item

    async def add_item(
        self,
        guild_id: int,
        *,
        name: str,
        price: int,
        description: str = "",
        role_id: int | None = None,
        stock: int | None = None,
    ) -> ShopItem:
        name = _item_name(name)
        _check_price(price)
        _check_stock(stock)
        description = _item_description(description)
        try:
            return await self._shop.add_item(
                guild_id,
                name=name,
                description=description,
                price=price,
                role_id=role_id,
                stock=stock,
                at=self._clock.now(),
            )
        except DuplicateItemName:
            raise InvalidInput(f"An item called **{name}** already exists; pick another name.") from None

    async def edit_item(
        self,
        guild_id: int,
        name: str,
        *,
        new_name: str | None = None,
        price: int | None = None,
        description: str | None = None,
        role_id: int | None = None,
        remove_role: bool = False,
        stock: int | None = None,
        unlimited_stock: bool = False,
    ) -> ShopItem:
        item = await self.item(guild_id, name)
        changes: dict[str, object] = {}
        if new_name is not None:
            changes["name"] = _item_name(new_name)
        if price is not None:
            changes["price"] = _check_price(price)
        if description is not None:
            changes["description"] = _item_description(description)
        if role_id is not None and remove_role:
            raise InvalidInput("Either set a role or remove it, not both.")
        if role_id is not None or remove_role:
            changes["role_id"] = role_id
        if stock is not None and unlimited_stock:
            raise InvalidInput("Either set a stock or make it unlimited, not both.")
        if stock is not None or unlimited_stock:
            changes["stock"] = _check_stock(stock)
        if not changes:
            raise InvalidInput("Nothing to change: give at least one of the options.")
        try:
            edited = await self._shop.edit_item(item.id, changes, self._clock.now())
        except DuplicateItemName:
            raise InvalidInput(f"An item called **{changes['name']}** already exists; pick another name.") from None
        if edited is None:
            raise ItemNotFound(f"**{item.name}** was just removed from the shop.")
        return edited

    async def remove_item(self, guild_id: int, name: str) -> ShopItem:
        item = await self.item(guild_id, name)
        if not await self._shop.remove_item(item.id, self._clock.now()):
            raise ItemNotFound(f"**{item.name}** was already removed.")
        return item

    async def inventory(self, guild_id: int, user_id: int) -> list[InventoryEntry]:
        return await self._shop.inventory(guild_id, user_id)

    async def buy(
        self,
        guild_id: int,
        user_id: int,
        item_name: str,
        quantity: int = 1,
        *,
        reference: str | None = None,
        role_check: Callable[[int], RoleRefusal | None] | None = None,
    ) -> PurchaseResult:
        """Buy atomically. Items with a role are checked with `role_check` (the adapter's view of Discord) first."""
        if not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidInput(f"Buy between 1 and {MAX_QUANTITY} at a time.")
        item = await self.item(guild_id, item_name)
        if item.role_id is not None:
            if quantity != 1:
                raise InvalidInput("Items that give a role are bought one at a time.")
            self._check_role(item.role_id, role_check)
        ref = reference or uuid.uuid4().hex

        def guard(current: ShopItem | None, wallet: Wallet) -> int:
            if current is None or current.removed_at is not None:
                raise ItemNotFound(f"**{item.name}** is no longer sold.")
            if current.role_id != item.role_id:
                raise InvalidInput(f"**{item.name}** just changed; look at it again and retry.")
            if current.stock is not None and current.stock < quantity:
                left = current.stock
                text = "is sold out" if left == 0 else f"has only {left} left"
                raise OutOfStock(f"**{current.name}** {text}.", left=left)
            total = current.price * quantity
            if total > wallet.balance:
                raise InsufficientFunds(
                    f"{quantity} × **{current.name}** costs {self.config.amount(total)}; "
                    f"you have {self.config.amount(wallet.balance)}.",
                    balance=wallet.balance,
                    needed=total,
                )
            return total

        async def attempt() -> PurchaseResult:
            record = await self._shop.purchase(
                guild_id=guild_id,
                user_id=user_id,
                item_id=item.id,
                quantity=quantity,
                reference=ref,
                at=self._clock.now(),
                guard=guard,
            )
            return PurchaseResult(record.id, record.item, record.quantity, record.total, record.wallet.balance)

        return await self._retrying(attempt)

    async def refund_purchase(self, purchase_id: int, reason: str) -> int | None:
        """Give a purchase back (points, stock, inventory); returns the new balance, None if already refunded."""

        async def attempt() -> int | None:
            wallet = await self._shop.refund(purchase_id, note=reason, at=self._clock.now())
            return wallet.balance if wallet else None

        return await self._retrying(attempt)

    @staticmethod
    def _check_role(role_id: int, role_check: Callable[[int], RoleRefusal | None] | None) -> None:
        if role_check is None:
            raise RoleNotGrantable(RoleRefusal.ROLE_DELETED.value, reason=RoleRefusal.ROLE_DELETED)
        refusal = role_check(role_id)
        if refusal is not None:
            raise RoleNotGrantable(refusal.value, reason=refusal)

    # retries -------------------------------------------------------------------------------------------------------

    async def _retrying(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run a transaction again after a serialization failure or deadlock, with jittered backoff."""
        for attempt in range(1, self._max_attempts + 1):
            try:
                return await operation()
            except _RETRYABLE as exc:
                if attempt == self._max_attempts:
                    log.warning("economy transaction gave up after %d attempts: %s", attempt, exc)
                    raise EconomyBusy("The economy is very busy right now; try again in a moment.") from exc
                delay = min(0.2, 0.002 * 2**attempt) * (0.5 + random.random())  # noqa: S311 - jitter, not secrets
                await asyncio.sleep(delay)
        raise RuntimeError("unreachable")


def _refusal(have: int, needed: int, short: str) -> DomainError:
    """Why wallets_post refused a change: the paying wallet holds less than `needed`, or else the receiving
    wallet would overflow."""
    if have < needed:
        return InsufficientFunds(short, balance=have, needed=needed)
    return BalanceOverflow("That would push their balance past the largest amount a wallet can hold.")


def _clean_note(note: str | None) -> str | None:
    if note is None:
        return None
    note = " ".join(note.split())
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"Keep the note to {MAX_NOTE} characters.")
    return note or None


def _item_name(name: str) -> str:
    name = " ".join(name.split())
    if not 1 <= len(name) <= MAX_ITEM_NAME:
        raise InvalidInput(f"An item name is 1 to {MAX_ITEM_NAME} characters.")
    return name


def _item_description(description: str) -> str:
    description = description.strip()
    if len(description) > MAX_ITEM_DESCRIPTION:
        raise InvalidInput(f"Keep the description to {MAX_ITEM_DESCRIPTION} characters.")
    return description


def _check_price(price: int) -> int:
    if not 1 <= price <= MAX_BALANCE:
        raise InvalidInput("A price is at least 1.")
    return price


def _check_stock(stock: int | None) -> int | None:
    if stock is not None and not 0 <= stock <= MAX_BALANCE:
        raise InvalidInput("Stock is 0 or more; leave it out for unlimited.")
    return stock


__all__: Sequence[str] = (
    "AdjustResult",
    "BalanceOverflow",
    "DailyAlreadyClaimed",
    "DailyResult",
    "EconomyBusy",
    "EconomyConfig",
    "EconomyService",
    "InsufficientFunds",
    "ItemNotFound",
    "Leaderboard",
    "OutOfStock",
    "OwnersOnly",
    "Profile",
    "PurchaseResult",
    "RankedEntry",
    "RoleNotGrantable",
    "RoleRefusal",
    "TransferResult",
)
