"""/balance, /daily, /pay, /history, /shop, /inventory, /leaderboard and /economy: the points economy."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

import hikari
import lightbulb
import miru

from hanabi.errors import InvalidInput, PermissionDenied
from hanabi.hybrid import private_replies
from hanabi.repositories.ledger import LedgerEntry
from hanabi.repositories.shop import ShopItem
from hanabi.services.economy import (
    MAX_ITEM_DESCRIPTION,
    MAX_ITEM_NAME,
    MAX_NOTE,
    MAX_QUANTITY,
    EconomyConfig,
    EconomyService,
    RankedEntry,
    RoleRefusal,
)
from hanabi.ui import BRAND_COLOUR, discord_timestamp
from hanabi.ui.interactions import NO_MENTIONS
from hanabi.ui.pagination import Paginator

log = logging.getLogger(__name__)
T = TypeVar("T")

loader = lightbulb.Loader()

HISTORY_PER_PAGE = 5
SHOP_PER_PAGE = 8
BOARD_SIZE = 50
BOARD_PER_PAGE = 10
GUILD_ONLY = [hikari.ApplicationContextType.GUILD]

_KIND_LABELS = {
    "daily": "Daily reward",
    "transfer_in": "Received",
    "transfer_out": "Sent",
    "purchase": "Purchase",
    "refund": "Refund",
    "grant": "Grant",
    "revoke": "Revoked",
}


def _guild_id(ctx: lightbulb.Context) -> int:
    if ctx.guild_id is None:
        raise InvalidInput("This command works in a server, not in direct messages.")
    return int(ctx.guild_id)


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


async def _respond_paged(
    ctx: lightbulb.Context, miru_client: miru.Client, pages: list[hikari.Embed], *, ephemeral: bool = False
) -> None:
    """One page: a plain embed. More: a Paginator only the caller can turn."""
    if len(pages) == 1:
        await ctx.respond(
            embed=pages[0], ephemeral=ephemeral, user_mentions=False, role_mentions=False, mentions_everyone=False
        )
        return
    view = Paginator(pages, owner_id=ctx.user.id)
    await ctx.respond(
        embed=view.current,
        components=view,
        ephemeral=ephemeral,
        user_mentions=False,
        role_mentions=False,
        mentions_everyone=False,
    )
    miru_client.start_view(view, bind_to=await ctx.interaction.fetch_initial_response())


# /balance /daily /pay /history ------------------------------------------------------------------------------------


@loader.command
class Balance(lightbulb.SlashCommand, name="balance", description="Show a balance, ranks and daily streak"):
    user = lightbulb.user("user", "Whose balance (yours if left out)", default=None)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, economy: EconomyService) -> None:
        target = self.user or ctx.user
        config = economy.config
        profile = await economy.profile(int(target.id), ctx.guild_id)
        embed = hikari.Embed(title=f"{target.display_name}'s wallet", colour=BRAND_COLOUR)
        embed.add_field("Balance", config.amount(profile.balance), inline=True)
        embed.add_field("Global rank", f"#{profile.global_rank:,}" if profile.global_rank else "unranked", inline=True)
        if ctx.guild_id is not None:
            embed.add_field(
                "Server rank", f"#{profile.server_rank:,}" if profile.server_rank else "unranked", inline=True
            )
        embed.add_field("Daily streak", f"{profile.streak} day{'s' if profile.streak != 1 else ''}", inline=True)
        next_daily = (
            f"{discord_timestamp(profile.next_daily_at, 'R')} ({discord_timestamp(profile.next_daily_at, 'f')})"
            if profile.claimed_today
            else "available now"
        )
        embed.add_field("Next daily", next_daily, inline=True)
        await ctx.respond(embed=embed, user_mentions=False, role_mentions=False, mentions_everyone=False)


@loader.command
class Daily(lightbulb.SlashCommand, name="daily", description="Claim your daily points (once per calendar day)"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, economy: EconomyService) -> None:
        result = await economy.claim_daily(int(ctx.user.id), reference=str(ctx.interaction.id), guild_id=ctx.guild_id)
        config = economy.config
        embed = hikari.Embed(
            title="Daily reward claimed",
            description=f"You received **{config.amount(result.amount)}**.",
            colour=BRAND_COLOUR,
        )
        embed.add_field("Streak", f"{result.streak} day{'s' if result.streak != 1 else ''}", inline=True)
        embed.add_field("Balance", config.amount(result.balance), inline=True)
        embed.add_field(
            "Next claim",
            f"{discord_timestamp(result.next_claim_at, 'R')} ({discord_timestamp(result.next_claim_at, 'f')})",
            inline=False,
        )
        await ctx.respond(embed=embed, user_mentions=False, role_mentions=False, mentions_everyone=False)


@loader.command
class Pay(lightbulb.SlashCommand, name="pay", description="Send points to someone"):
    user = lightbulb.user("user", "Who receives the points")
    amount = lightbulb.integer("amount", "How many points")
    note = lightbulb.string("note", "A note for both ledgers", default=None, max_length=MAX_NOTE)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, economy: EconomyService) -> None:
        result = await economy.transfer(
            int(ctx.user.id),
            int(self.user.id),
            self.amount,
            receiver_is_bot=self.user.is_bot,
            guild_id=ctx.guild_id,
            note=self.note,
            reference=str(ctx.interaction.id),
        )
        config = economy.config
        text = f"{ctx.user.mention} sent **{config.amount(result.amount)}** to {self.user.mention}."
        if self.note:
            text += f"\n> {' '.join(self.note.split())}"
        embed = hikari.Embed(title="Payment sent", description=text, colour=BRAND_COLOUR)
        embed.add_field("Your balance", config.amount(result.sender_balance), inline=True)
        await ctx.respond(embed=embed, user_mentions=False, role_mentions=False, mentions_everyone=False)


def _history_line(entry: LedgerEntry, config: EconomyConfig) -> str:
    sign = "+" if entry.delta > 0 else "−"
    label = _KIND_LABELS.get(entry.kind, entry.kind)
    if entry.counterparty_id is not None and entry.kind in {"transfer_in", "transfer_out"}:
        label += f" {'from' if entry.kind == 'transfer_in' else 'to'} <@{entry.counterparty_id}>"
    line = f"{discord_timestamp(entry.created_at, 'd')} **{sign}{config.amount(abs(entry.delta))}** · {label}"
    if entry.note:
        line += f"\n  ↳ {entry.note}"
    return line


@loader.command
@private_replies  # a ledger is nobody else's business: from a text prefix it arrives by DM
class History(lightbulb.SlashCommand, name="history", description="Your last 20 point movements"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, economy: EconomyService, miru_client: miru.Client) -> None:
        entries = await economy.history(int(ctx.user.id))
        config = economy.config
        if not entries:
            await ctx.respond("Your ledger is empty. Claim your first points with `/daily`.", ephemeral=True)
            return
        pages = [
            hikari.Embed(
                title="Your ledger",
                description="\n".join(_history_line(e, config) for e in chunk),
                colour=BRAND_COLOUR,
            )
            for chunk in _chunks(entries, HISTORY_PER_PAGE)
        ]
        await _respond_paged(ctx, miru_client, pages, ephemeral=True)


# /shop /inventory --------------------------------------------------------------------------------------------------


async def _item_autocomplete(
    ctx: lightbulb.AutocompleteContext[str], economy: EconomyService = lightbulb.di.INJECTED
) -> None:
    guild_id = ctx.interaction.guild_id
    if guild_id is None:
        await ctx.respond([])
        return
    typed = str(ctx.focused.value or "")
    items = await economy.search_items(int(guild_id), typed)
    config = economy.config
    choices = []
    for item in items:
        label = f"{item.name} · {config.amount(item.price)}"
        choices.append((label[:100], item.name))
    await ctx.respond(choices)


def role_checker(
    bot: hikari.GatewayBot, guild_id: int, member_role_ids: Sequence[int]
) -> Callable[[int], RoleRefusal | None]:
    """What Discord would say to us granting `role_id`, from the cache: the facts the shop's rule needs."""

    def check(role_id: int) -> RoleRefusal | None:
        role = bot.cache.get_role(role_id)
        if role is None or int(role.guild_id) != guild_id:
            return RoleRefusal.ROLE_DELETED
        if role.is_managed or role_id == guild_id:
            return RoleRefusal.ROLE_MANAGED
        if role_id in member_role_ids:
            return RoleRefusal.ALREADY_HAS_ROLE
        me = bot.get_me()
        bot_member = bot.cache.get_member(guild_id, me.id) if me else None
        if bot_member is None:
            return RoleRefusal.MISSING_MANAGE_ROLES
        roles = [r for r in (bot.cache.get_role(i) for i in {guild_id, *bot_member.role_ids}) if r is not None]
        permissions = hikari.Permissions.NONE
        for bot_role in roles:
            permissions |= bot_role.permissions
        if not permissions & (hikari.Permissions.MANAGE_ROLES | hikari.Permissions.ADMINISTRATOR):
            return RoleRefusal.MISSING_MANAGE_ROLES
        if role.position >= max((r.position for r in roles), default=0):
            return RoleRefusal.ROLE_TOO_HIGH
        return None

    return check


def _item_line(item: ShopItem, config: EconomyConfig) -> str:
    parts = [f"**{item.name}** · {config.amount(item.price)}"]
    if item.stock is not None:
        parts.append("sold out" if item.stock == 0 else f"{item.stock:,} left")
    if item.role_id is not None:
        parts.append(f"gives <@&{item.role_id}>")
    line = " · ".join(parts)
    if item.description:
        line += f"\n{item.description}"
    return line


shop = lightbulb.Group("shop", "This server's shop", contexts=GUILD_ONLY)


@lightbulb.hook(lightbulb.ExecutionSteps.CHECKS, skip_when_failed=True, name="economy_manage_shop")
def manage_guild(_: lightbulb.ExecutionPipeline, ctx: lightbulb.Context) -> None:
    """Shop management is for members with Manage Server (or Administrator)."""
    permissions = ctx.member.permissions if ctx.member else hikari.Permissions.NONE
    if not permissions & (hikari.Permissions.MANAGE_GUILD | hikari.Permissions.ADMINISTRATOR):
        raise PermissionDenied("You need the **Manage Server** permission to manage the shop.")


@shop.register
class ShopList(lightbulb.SlashCommand, name="list", description="What this server's shop sells"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, economy: EconomyService, miru_client: miru.Client) -> None:
        items = await economy.items(_guild_id(ctx))
        if not items:
            await ctx.respond("The shop is empty. Admins can stock it with `/shop add`.", ephemeral=True)
            return
        config = economy.config
        pages = [
            hikari.Embed(
                title="Shop",
                description="\n\n".join(_item_line(i, config) for i in chunk),
                colour=BRAND_COLOUR,
            )
            for chunk in _chunks(items, SHOP_PER_PAGE)
        ]
        await _respond_paged(ctx, miru_client, pages)


@shop.register
class ShopBuy(lightbulb.SlashCommand, name="buy", description="Buy an item from this server's shop"):
    item = lightbulb.string("item", "The item", autocomplete=_item_autocomplete, max_length=MAX_ITEM_NAME)
    quantity = lightbulb.integer("quantity", "How many (default 1)", default=1, min_value=1, max_value=MAX_QUANTITY)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, economy: EconomyService, bot: hikari.GatewayBot) -> None:
        guild_id = _guild_id(ctx)
        member_roles = [int(r) for r in ctx.member.role_ids] if ctx.member else []
        result = await economy.buy(
            guild_id,
            int(ctx.user.id),
            self.item,
            self.quantity,
            reference=str(ctx.interaction.id),
            role_check=role_checker(bot, guild_id, member_roles),
        )
        config = economy.config
        item = result.item
        if item.role_id is not None:
            try:
                await bot.rest.add_role_to_member(
                    guild_id, ctx.user.id, item.role_id, reason=f"Bought {item.name} in the shop"
                )
            except hikari.HTTPError as exc:
                log.warning("shop role %s in guild %s could not be granted: %s", item.role_id, guild_id, exc)
                balance = await economy.refund_purchase(result.purchase_id, f"Could not grant the role of {item.name}")
                shown = config.amount(balance if balance is not None else result.balance)
                await ctx.respond(
                    f"Discord would not let me give you <@&{item.role_id}>, so the purchase was undone and "
                    f"**{config.amount(result.total)}** refunded. Your balance: {shown}.",
                    ephemeral=True,
                    user_mentions=False,
                    role_mentions=False,
                    mentions_everyone=False,
                )
                return
        text = f"You bought **{result.quantity} × {item.name}** for **{config.amount(result.total)}**."
        if item.role_id is not None:
            text += f"\nYou now have <@&{item.role_id}>."
        embed = hikari.Embed(title="Purchase complete", description=text, colour=BRAND_COLOUR)
        embed.add_field("Balance", config.amount(result.balance), inline=True)
        if item.stock is not None:
            embed.add_field("Left in stock", f"{item.stock:,}", inline=True)
        await ctx.respond(embed=embed, user_mentions=False, role_mentions=False, mentions_everyone=False)


@shop.register
class ShopAdd(lightbulb.SlashCommand, name="add", description="Add an item to the shop", hooks=[manage_guild]):
    name = lightbulb.string("name", "The item's name", max_length=MAX_ITEM_NAME)
    price = lightbulb.integer("price", "Price in points")
    description = lightbulb.string("description", "What it is", default="", max_length=MAX_ITEM_DESCRIPTION)
    role = lightbulb.role("role", "A role given on purchase", default=None)
    stock = lightbulb.integer("stock", "How many can be sold (unlimited if left out)", default=None)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, economy: EconomyService) -> None:
        item = await economy.add_item(
            _guild_id(ctx),
            name=self.name,
            price=self.price,
            description=self.description,
            role_id=int(self.role.id) if self.role else None,
            stock=self.stock,
        )
        await ctx.respond(
            f"Added to the shop:\n{_item_line(item, economy.config)}",
            user_mentions=False,
            role_mentions=False,
            mentions_everyone=False,
        )


@shop.register
class ShopEdit(lightbulb.SlashCommand, name="edit", description="Change a shop item", hooks=[manage_guild]):
    item = lightbulb.string("item", "The item to change", autocomplete=_item_autocomplete, max_length=MAX_ITEM_NAME)
    name = lightbulb.string("name", "A new name", default=None, max_length=MAX_ITEM_NAME)
    price = lightbulb.integer("price", "A new price", default=None)
    description = lightbulb.string("description", "A new description", default=None, max_length=MAX_ITEM_DESCRIPTION)
    role = lightbulb.role("role", "A new role given on purchase", default=None)
    remove_role = lightbulb.boolean("remove_role", "Stop giving a role", default=False)
    stock = lightbulb.integer("stock", "A new stock", default=None)
    unlimited_stock = lightbulb.boolean("unlimited_stock", "Make the stock unlimited", default=False)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, economy: EconomyService) -> None:
        item = await economy.edit_item(
            _guild_id(ctx),
            self.item,
            new_name=self.name,
            price=self.price,
            description=self.description,
            role_id=int(self.role.id) if self.role else None,
            remove_role=self.remove_role,
            stock=self.stock,
            unlimited_stock=self.unlimited_stock,
        )
        await ctx.respond(
            f"Updated:\n{_item_line(item, economy.config)}",
            user_mentions=False,
            role_mentions=False,
            mentions_everyone=False,
        )


@shop.register
class ShopRemove(lightbulb.SlashCommand, name="remove", description="Stop selling an item", hooks=[manage_guild]):
    item = lightbulb.string("item", "The item to remove", autocomplete=_item_autocomplete, max_length=MAX_ITEM_NAME)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, economy: EconomyService) -> None:
        item = await economy.remove_item(_guild_id(ctx), self.item)
        await ctx.respond(
            f"**{item.name}** is no longer sold. Members keep the ones they already own.",
            user_mentions=False,
            role_mentions=False,
            mentions_everyone=False,
        )


loader.command(shop)


@loader.command
class Inventory(
    lightbulb.SlashCommand,
    name="inventory",
    description="What someone owns from this server's shop",
    contexts=GUILD_ONLY,
):
    user = lightbulb.user("user", "Whose inventory (yours if left out)", default=None)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, economy: EconomyService) -> None:
        target = self.user or ctx.user
        entries = await economy.inventory(_guild_id(ctx), int(target.id))
        embed = hikari.Embed(title=f"{target.display_name}'s inventory", colour=BRAND_COLOUR)
        if not entries:
            embed.description = "Nothing yet. See what is for sale with `/shop list`."
        else:
            lines = []
            for entry in entries:
                line = f"**{entry.quantity:,} × {entry.name}**"
                if entry.role_id is not None:
                    line += f" · <@&{entry.role_id}>"
                if entry.removed:
                    line += " · *no longer sold*"
                lines.append(line)
            embed.description = "\n".join(lines)
        await ctx.respond(embed=embed, user_mentions=False, role_mentions=False, mentions_everyone=False)


# /leaderboard ---------------------------------------------------------------------------------------------------------


def _board_line(entry: RankedEntry, config: EconomyConfig, caller_id: int) -> str:
    marker = " ← you" if entry.user_id == caller_id else ""
    return f"**#{entry.rank}** <@{entry.user_id}> · {config.amount(entry.balance)}{marker}"


@loader.command
class LeaderboardCommand(lightbulb.SlashCommand, name="leaderboard", description="The richest wallets"):
    scope = lightbulb.string(
        "scope",
        "This server's members or everyone (default: server)",
        choices=[lightbulb.Choice("server", "server"), lightbulb.Choice("global", "global")],
        default=None,
    )

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, economy: EconomyService, miru_client: miru.Client) -> None:
        scope: Literal["server", "global"] = "global" if self.scope == "global" or ctx.guild_id is None else "server"
        board = await economy.leaderboard(scope, caller_id=int(ctx.user.id), guild_id=ctx.guild_id, size=BOARD_SIZE)
        config = economy.config
        title = "Global leaderboard" if scope == "global" else "Server leaderboard"
        if board.caller is not None:
            you = f"Your rank: **#{board.caller.rank:,}** with {config.amount(board.caller.balance)}"
        else:
            you = "You are not ranked yet: claim `/daily` to get on the board."
        pages = []
        for chunk in _chunks(board.entries, BOARD_PER_PAGE):
            lines = [_board_line(e, config, int(ctx.user.id)) for e in chunk] or ["Nobody has any points yet."]
            embed = hikari.Embed(title=title, description="\n".join(lines), colour=BRAND_COLOUR)
            embed.add_field("You", you, inline=False)
            pages.append(embed)
        await _respond_paged(ctx, miru_client, pages)


# /economy grant|revoke (owners) -------------------------------------------------------------------------------------

economy_group = lightbulb.Group(
    "economy",
    "Owner tools for the economy",
    # Hidden from non-admins by default; the service still refuses anyone not in OWNER_IDS.
    default_member_permissions=hikari.Permissions.ADMINISTRATOR,
)


@economy_group.register
class Grant(lightbulb.SlashCommand, name="grant", description="Owners: add points to a wallet"):
    user = lightbulb.user("user", "Whose wallet")
    amount = lightbulb.integer("amount", "How many points")
    reason = lightbulb.string("reason", "Why (written to the ledger)", max_length=MAX_NOTE)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, economy: EconomyService) -> None:
        await _adjust(ctx, economy, self.user, self.amount, self.reason, revoke=False)


@economy_group.register
class Revoke(lightbulb.SlashCommand, name="revoke", description="Owners: take points from a wallet"):
    user = lightbulb.user("user", "Whose wallet")
    amount = lightbulb.integer("amount", "How many points")
    reason = lightbulb.string("reason", "Why (written to the ledger)", max_length=MAX_NOTE)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, economy: EconomyService) -> None:
        await _adjust(ctx, economy, self.user, self.amount, self.reason, revoke=True)


async def _adjust(
    ctx: lightbulb.Context, economy: EconomyService, user: hikari.User, amount: int, reason: str, *, revoke: bool
) -> None:
    if amount < 1:
        raise InvalidInput(f"{'Revoke' if revoke else 'Grant'} at least 1 point.")
    change = economy.revoke if revoke else economy.grant
    result = await change(int(ctx.user.id), int(user.id), amount, reason, guild_id=ctx.guild_id)
    config = economy.config
    done = f"Revoked **{config.amount(amount)}** from" if revoke else f"Granted **{config.amount(amount)}** to"
    await ctx.respond(
        f"{done} {user.mention}. Their balance: {config.amount(result.balance)}.", ephemeral=True, **NO_MENTIONS
    )


loader.command(economy_group)
