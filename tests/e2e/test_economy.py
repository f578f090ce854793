"""The economy end to end: every command, each refusal, role purchases and the paging buttons."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.harness.bot import RunningBot
from tests.harness.clock import ManualClock
from tests.harness.discord import CommandNotVisibleError, FakeDiscord, FakeGuild, FakeMember, Reply
from tests.harness.payloads import Perm

pytestmark = pytest.mark.asyncio


def member(guild: FakeGuild, name: str) -> FakeMember:
    return next(m for m in guild.members.values() if m.username == name)


def fields(reply: Reply) -> dict[str, str]:
    (embed,) = reply.embeds
    return {str(f["name"]): str(f["value"]) for f in embed.get("fields", [])}


async def grant(fake: FakeDiscord, guild: FakeGuild, who: FakeMember, amount: int) -> Reply:
    owner = guild.member(fake.owner_id)
    reply = await fake.slash(
        "economy grant", {"user": who, "amount": amount, "reason": "test"}, user=owner, guild=guild
    )
    assert reply.ephemeral
    assert "Granted" in (reply.content or ""), reply.content
    return reply


async def test_daily_pays_refuses_until_midnight_then_continues_the_streak(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, clock: ManualClock
) -> None:
    alice = member(guild, "alice")
    first = await fake.slash("daily", user=alice, guild=guild)
    assert "100 points" in first.text
    midnight = int(datetime(2026, 1, 16, tzinfo=UTC).timestamp())
    assert fields(first)["Streak"] == "1 day"
    assert f"<t:{midnight}:R>" in fields(first)["Next claim"]

    again = await fake.slash("daily", user=alice, guild=guild)
    assert again.ephemeral
    assert "already claimed today's daily reward" in (again.content or "")
    assert f"<t:{midnight}:R>" in (again.content or "")

    clock.set(datetime(2026, 1, 16, 0, 0, 0, tzinfo=UTC))
    second = await fake.slash("daily", user=alice, guild=guild)
    assert "110 points" in second.text
    assert fields(second)["Streak"] == "2 days"
    assert fields(second)["Balance"] == "🪙 210 points"


async def test_balance_shows_balance_ranks_streak_and_next_daily(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    alice, bob = member(guild, "alice"), member(guild, "bob")
    fresh = await fake.slash("balance", user=alice, guild=guild)
    assert fields(fresh) == {
        "Balance": "🪙 0 points",
        "Global rank": "unranked",
        "Server rank": "unranked",
        "Daily streak": "0 days",
        "Next daily": "available now",
    }
    await fake.slash("daily", user=alice, guild=guild)
    await fake.slash("daily", user=bob, guild=guild)
    await fake.slash("pay", {"user": bob, "amount": 1}, user=alice, guild=guild)
    mine = fields(await fake.slash("balance", user=alice, guild=guild))
    assert mine["Balance"] == "🪙 99 points"
    assert (mine["Global rank"], mine["Server rank"], mine["Daily streak"]) == ("#2", "#2", "1 day")
    assert mine["Next daily"].startswith("<t:")
    theirs = await fake.slash("balance", {"user": bob}, user=alice, guild=guild)
    assert theirs.embeds[0]["title"].lower() == "bob's wallet"
    assert fields(theirs)["Global rank"] == "#1"


async def test_pay_moves_points_and_refuses_each_bad_request(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, clock: ManualClock
) -> None:
    alice, bob = member(guild, "alice"), member(guild, "bob")
    await grant(fake, guild, alice, 500)
    paid = await fake.slash("pay", {"user": bob, "amount": 200, "note": "for <@&1> pizza"}, user=alice, guild=guild)
    assert not paid.ephemeral
    assert "sent **🪙 200 points**" in paid.text
    assert "pizza" in paid.text
    assert fields(paid)["Your balance"] == "🪙 300 points"
    refusals = [
        ({"user": bob, "amount": 0}, "Send at least 1 points."),
        ({"user": bob, "amount": 1_000_001}, "You can send at most 🪙 1,000,000 points at a time."),
        ({"user": bob, "amount": 301}, "You have 🪙 300 points, not enough to send 🪙 301 points."),
        ({"user": alice, "amount": 5}, "You cannot pay yourself."),
        ({"user": guild.bot_member, "amount": 5}, "Bots do not have wallets; pay a person instead."),
    ]
    for options, message in refusals:
        clock.advance(seconds=11)  # stay clear of the per-user command cooldown
        reply = await fake.slash("pay", options, user=alice, guild=guild)
        assert reply.ephemeral
        assert reply.content == message
    bob_balance = fields(await fake.slash("balance", user=bob, guild=guild))["Balance"]
    assert bob_balance == "🪙 200 points"


async def test_history_is_paginated_and_only_the_caller_can_turn_pages(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    alice, bob = member(guild, "alice"), member(guild, "bob")
    empty = await fake.slash("history", user=alice, guild=guild)
    assert empty.ephemeral
    assert "ledger is empty" in (empty.content or "")
    for amount in range(1, 8):
        await grant(fake, guild, alice, amount)
    reply = await fake.slash("history", user=alice, guild=guild)
    assert reply.embeds[0]["footer"]["text"] == "Page 1/2"
    assert "+🪙 7 points" in reply.text  # newest first
    next_id = str(reply.component(label="Next")["custom_id"])
    previous_id = str(reply.component(label="Previous")["custom_id"])
    assert reply.component(label="Previous").get("disabled") is True

    refused = await fake.click(reply, next_id, user=bob)
    assert refused.ephemeral
    assert "Only the person who ran this command" in (refused.content or "")

    turned = await fake.click(reply, next_id, user=alice)
    assert turned.embeds[0]["footer"]["text"] == "Page 2/2"
    assert "+🪙 1 points" in turned.text
    back = await fake.click(turned, previous_id, user=alice)
    assert back.embeds[0]["footer"]["text"] == "Page 1/2"


async def test_shop_add_list_autocomplete_buy_inventory_edit_remove(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, clock: ManualClock
) -> None:
    owner, alice = guild.member(fake.owner_id), member(guild, "alice")
    empty = await fake.slash("shop list", user=alice, guild=guild)
    assert "The shop is empty" in (empty.content or "")

    not_admin = await fake.slash("shop add", {"name": "Cookie", "price": 50}, user=alice, guild=guild)
    assert not_admin.ephemeral
    assert not_admin.content == "You need the **Manage Server** permission to manage the shop."

    added = await fake.slash(
        "shop add", {"name": "Cookie", "price": 50, "stock": 2, "description": "Crunchy"}, user=owner, guild=guild
    )
    assert "**Cookie** · 🪙 50 points · 2 left" in (added.content or "")
    duplicate = await fake.slash("shop add", {"name": "cookie", "price": 5}, user=owner, guild=guild)
    assert duplicate.content == "An item called **cookie** already exists; pick another name."
    await fake.slash("shop add", {"name": "Cake", "price": 500}, user=owner, guild=guild)

    listing = await fake.slash("shop list", user=alice, guild=guild)
    assert "**Cookie** · 🪙 50 points · 2 left\nCrunchy" in listing.text
    assert "**Cake** · 🪙 500 points" in listing.text

    choices = await fake.autocomplete("shop buy", {"item": "coo"}, "item", user=alice, guild=guild)
    assert [c["value"] for c in choices] == ["Cookie"]
    assert choices[0]["name"] == "Cookie · 🪙 50 points"

    await grant(fake, guild, alice, 120)
    bought = await fake.slash("shop buy", {"item": "Cookie", "quantity": 2}, user=alice, guild=guild)
    assert "You bought **2 × Cookie** for **🪙 100 points**" in bought.text
    assert fields(bought) == {"Balance": "🪙 20 points", "Left in stock": "0"}
    sold_out = await fake.slash("shop buy", {"item": "Cookie"}, user=alice, guild=guild)
    assert sold_out.content == "**Cookie** is sold out."
    too_dear = await fake.slash("shop buy", {"item": "Cake"}, user=alice, guild=guild)
    assert too_dear.content == "1 × **Cake** costs 🪙 500 points; you have 🪙 20 points."
    unknown = await fake.slash("shop buy", {"item": "Pie"}, user=alice, guild=guild)
    assert unknown.content == "There is no item called **Pie** in this server's shop."

    edited = await fake.slash(
        "shop edit", {"item": "Cookie", "price": 10, "unlimited_stock": True}, user=owner, guild=guild
    )
    assert "**Cookie** · 🪙 10 points" in (edited.content or "")
    assert "left" not in (edited.content or "")
    nothing = await fake.slash("shop edit", {"item": "Cookie"}, user=owner, guild=guild)
    assert nothing.content == "Nothing to change: give at least one of the options."
    clock.advance(seconds=11)
    not_admin_edit = await fake.slash("shop edit", {"item": "Cookie", "price": 1}, user=alice, guild=guild)
    assert not_admin_edit.content == "You need the **Manage Server** permission to manage the shop."
    not_admin_remove = await fake.slash("shop remove", {"item": "Cookie"}, user=alice, guild=guild)
    assert not_admin_remove.content == "You need the **Manage Server** permission to manage the shop."

    removed = await fake.slash("shop remove", {"item": "Cookie"}, user=owner, guild=guild)
    assert "no longer sold" in (removed.content or "")
    gone = await fake.slash("shop remove", {"item": "Cookie"}, user=owner, guild=guild)
    assert gone.content == "There is no item called **Cookie** in this server's shop."

    inventory = await fake.slash("inventory", user=alice, guild=guild)
    assert "**2 × Cookie** · *no longer sold*" in inventory.text
    others = await fake.slash("inventory", {"user": owner}, user=alice, guild=guild)
    assert "Nothing yet" in others.text


async def test_buying_a_role_item_grants_the_role(bot: RunningBot, fake: FakeDiscord, guild: FakeGuild) -> None:
    owner, alice = guild.member(fake.owner_id), member(guild, "alice")
    vip = guild.add_role("VIP")
    await fake.slash("shop add", {"name": "VIP pass", "price": 100, "role": vip}, user=owner, guild=guild)
    await grant(fake, guild, alice, 150)
    bought = await fake.slash("shop buy", {"item": "VIP pass"}, user=alice, guild=guild)
    assert f"You now have <@&{vip.id}>" in bought.text
    assert vip.id in alice.roles
    assert any(r.method == "PUT" and r.path.endswith(f"/members/{alice.id}/roles/{vip.id}") for r in fake.requests)
    # The member already has it now: refused before any charge.
    again = await fake.slash("shop buy", {"item": "VIP pass"}, user=alice, guild=guild)
    assert again.content == "You already have that item's role."
    assert fields(await fake.slash("balance", user=alice, guild=guild))["Balance"] == "🪙 50 points"


async def test_role_items_the_bot_cannot_grant_are_refused_before_any_charge(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, clock: ManualClock
) -> None:
    owner, alice = guild.member(fake.owner_id), member(guild, "alice")
    high = guild.add_role("Council", position=50)
    doomed = guild.add_role("Doomed")
    low = guild.add_role("Helper")
    for name, role in (("Seat", high), ("Ghost", doomed), ("Badge", low)):
        await fake.slash("shop add", {"name": name, "price": 10, "role": role}, user=owner, guild=guild)
    await grant(fake, guild, alice, 100)

    too_high = await fake.slash("shop buy", {"item": "Seat"}, user=alice, guild=guild)
    assert too_high.content == (
        "That item's role is above my highest role, so I cannot give it. Ask an admin to move it below."
    )
    # The role is deleted in Discord after the item was made.
    del guild.roles[doomed.id]
    fake.notify("GUILD_ROLE_DELETE", {"guild_id": str(guild.id), "role_id": str(doomed.id)}, guild_id=guild.id)
    deleted = await fake.slash("shop buy", {"item": "Ghost"}, user=alice, guild=guild)
    assert deleted.content == "That item's role no longer exists. Ask an admin to edit or remove the item."
    guild.set_bot_permissions(Perm.SEND_MESSAGES | Perm.VIEW_CHANNEL)
    clock.advance(seconds=11)
    no_permission = await fake.slash("shop buy", {"item": "Badge"}, user=alice, guild=guild)
    assert no_permission.content == "I need the **Manage Roles** permission to hand out that item's role."

    assert fields(await fake.slash("balance", user=alice, guild=guild))["Balance"] == "🪙 100 points"
    assert not [r for r in fake.requests if r.method == "PUT" and "/roles/" in r.path]


async def test_a_role_grant_that_fails_anyway_is_refunded(bot: RunningBot, fake: FakeDiscord, guild: FakeGuild) -> None:
    owner, alice = guild.member(fake.owner_id), member(guild, "alice")
    vip = guild.add_role("VIP")
    await fake.slash("shop add", {"name": "VIP", "price": 80, "role": vip, "stock": 1}, user=owner, guild=guild)
    await grant(fake, guild, alice, 100)
    fake.fail_next("PUT", rf"/members/{alice.id}/roles/{vip.id}$")
    reply = await fake.slash("shop buy", {"item": "VIP"}, user=alice, guild=guild)
    assert reply.ephemeral
    assert "purchase was undone and **🪙 80 points** refunded" in (reply.content or "")
    assert vip.id not in alice.roles
    assert fields(await fake.slash("balance", user=alice, guild=guild))["Balance"] == "🪙 100 points"
    history = await fake.slash("history", user=alice, guild=guild)
    assert "Refund" in history.text
    assert "Purchase" in history.text
    listing = await fake.slash("shop list", user=alice, guild=guild)
    assert "1 left" in listing.text  # the stock came back too
    inventory = await fake.slash("inventory", user=alice, guild=guild)
    assert "Nothing yet" in inventory.text


async def test_leaderboards_page_and_show_the_callers_rank(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    alice, bob = member(guild, "alice"), member(guild, "bob")
    extras = [guild.add_member(username=f"member{i}") for i in range(10)]
    for points, who in enumerate(extras, start=100):
        await grant(fake, guild, who, points)
    await grant(fake, guild, alice, 50)
    await grant(fake, guild, bob, 10)
    await fake.slash("pay", {"user": bob, "amount": 5}, user=alice, guild=guild)

    board = await fake.slash("leaderboard", {"scope": "global"}, user=alice, guild=guild)
    assert board.embeds[0]["title"] == "Global leaderboard"
    assert board.text.splitlines()[1].startswith(f"**#1** <@{extras[-1].id}> · 🪙 109 points")
    assert "Your rank: **#11** with 🪙 45 points" in board.text
    next_id = str(board.component(label="Next")["custom_id"])
    refused = await fake.click(board, next_id, user=bob)
    assert "Only the person who ran this command" in (refused.content or "")
    page_two = await fake.click(board, next_id, user=alice)
    assert page_two.embeds[0]["footer"]["text"] == "Page 2/2"
    assert f"**#11** <@{alice.id}> · 🪙 45 points ← you" in page_two.text
    assert f"**#12** <@{bob.id}> · 🪙 15 points" in page_two.text

    server = await fake.slash("leaderboard", user=bob, guild=guild)
    assert server.embeds[0]["title"] == "Server leaderboard"
    assert server.components == []
    assert f"**#1** <@{alice.id}>" in server.text
    assert "Your rank: **#2** with 🪙 15 points" in server.text
    stranger = await fake.slash("leaderboard", {"scope": "server"}, user=extras[0], guild=guild)
    assert "You are not ranked yet" in stranger.text


async def test_grant_and_revoke_are_for_owners_only(bot: RunningBot, fake: FakeDiscord, guild: FakeGuild) -> None:
    owner, alice = guild.member(fake.owner_id), member(guild, "alice")
    admin_role = guild.add_role("Admin", Perm.ADMINISTRATOR)
    carol = guild.add_member(username="carol", roles=[admin_role])
    with pytest.raises(CommandNotVisibleError):
        await fake.slash("economy grant", {"user": alice, "amount": 5, "reason": "hi"}, user=alice, guild=guild)
    for sub in ("grant", "revoke"):
        refused = await fake.slash(f"economy {sub}", {"user": alice, "amount": 5, "reason": "hi"}, user=carol)
        assert refused.ephemeral
        assert refused.content == "Only the bot's owners can grant or revoke points."

    await grant(fake, guild, alice, 30)
    too_much = await fake.slash(
        "economy revoke", {"user": alice, "amount": 31, "reason": "oops"}, user=owner, guild=guild
    )
    assert too_much.content == "They only have 🪙 30 points; you cannot revoke 🪙 31 points."
    zero = await fake.slash("economy grant", {"user": alice, "amount": 0, "reason": "zero"}, user=owner, guild=guild)
    assert zero.content == "Grant at least 1 point."
    zero = await fake.slash("economy revoke", {"user": alice, "amount": 0, "reason": "zero"}, user=owner, guild=guild)
    assert zero.content == "Revoke at least 1 point."
    done = await fake.slash("economy revoke", {"user": alice, "amount": 20, "reason": "fine"}, user=owner, guild=guild)
    assert done.ephemeral
    assert "Their balance: 🪙 10 points." in (done.content or "")
    history = await fake.slash("history", user=alice, guild=guild)
    assert "Revoked" in history.text
    assert "fine" in history.text
