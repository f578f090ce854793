"""Real Hanabi commands by text prefix: the same service calls, checks, cooldowns and components as slash."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.harness.bot import RunningBot
from tests.harness.discord import FakeDiscord, FakeGuild, FakeMember

pytestmark = pytest.mark.asyncio


def _from_bot(fake: FakeDiscord, message: dict[str, Any]) -> bool:
    """A message the bot posted in the channel (interaction responses are stored too: skip those)."""
    return int(message["author"]["id"]) == fake.bot_user_id and "interaction_metadata" not in message


def _reply_to(said: dict[str, Any]) -> Any:
    return lambda m: (m.get("message_reference") or {}).get("message_id") == said["id"]


async def _grant(fake: FakeDiscord, guild: FakeGuild, who: FakeMember, amount: int) -> None:
    owner = guild.member(fake.owner_id)
    reply = await fake.slash(
        "economy grant", {"user": who, "amount": amount, "reason": "test"}, user=owner, guild=guild
    )
    assert not reply.ephemeral or "Granted" in reply.text or reply.embeds, reply.text


async def test_balance_and_pay_by_prefix(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, alice: FakeMember, bob: FakeMember
) -> None:
    channel = guild.default_channel
    await _grant(fake, guild, alice, 100)
    said = await fake.say(f"!pay <@{bob.id}> 10 for lunch at noon", author=alice, channel=channel, mentions=[bob])
    receipt = await fake.wait_for_message(channel.id, _reply_to(said))
    assert "10" in str(receipt["embeds"]) + receipt["content"]
    economy = await bot.container.economy_service()
    entries = await economy.history(alice.id)
    assert entries[0].note == "for lunch at noon", (receipt["content"], receipt["embeds"])
    assert entries[0].delta == -10

    said = await fake.say("!BALANCE", author=bob, channel=channel)
    balance = await fake.wait_for_message(channel.id, _reply_to(said))
    assert "10" in str(balance["embeds"][0])

    # Out of bounds and wrong types are refused before anything moves.
    await fake.say(f"!pay <@{bob.id}> lots", author=alice, channel=channel, mentions=[bob])
    usage = await fake.wait_for_message(channel.id, lambda m: "Usage" in m["content"])
    assert "`amount` must be a whole number" in usage["content"]
    assert "`!pay <user> <amount> [note]`" in usage["content"]
    assert (await economy.history(alice.id))[0].delta == -10


async def test_cooldown_applies_to_prefix_and_slash_alike(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, alice: FakeMember
) -> None:
    channel = guild.default_channel
    uses = bot.settings.command_cooldown_uses
    assert uses >= 1
    for _ in range(uses):
        await fake.say("!ping", author=alice, channel=channel)
        await fake.wait_for_message(channel.id, lambda m: _from_bot(fake, m) and bool(m["embeds"]))
    await fake.say("!ping", author=alice, channel=channel)
    slow = await fake.wait_for_message(channel.id, lambda m: _from_bot(fake, m) and "try again" in m["content"])
    assert "<t:" in slow["content"]
    # The slash path shares the same per-user budget.
    reply = await fake.slash("ping", user=alice, guild=guild)
    assert reply.ephemeral
    assert "try again" in reply.content


async def test_pagination_buttons_work_on_a_prefix_reply(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, alice: FakeMember, bob: FakeMember
) -> None:
    extras = [guild.add_member(username=f"rich{i}") for i in range(11)]
    for points, who in enumerate(extras, start=100):
        await _grant(fake, guild, who, points)
    channel = guild.default_channel
    said = await fake.say("!leaderboard global", author=alice, channel=channel)
    board = await fake.wait_for_message(channel.id, _reply_to(said))
    next_button = next(c for row in board["components"] for c in row["components"] if c.get("label") == "Next")
    refused = await fake.click(board, next_button["custom_id"], user=bob)
    assert "Only the person who ran this command" in refused.content
    page_two = await fake.click(board, next_button["custom_id"], user=alice)
    assert page_two.embeds[0]["footer"]["text"] == "Page 2/2"


async def test_private_answers_go_by_direct_message(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, alice: FakeMember
) -> None:
    await _grant(fake, guild, alice, 25)
    await fake.say("!history", author=alice, channel=guild.default_channel)
    dm = await fake.wait_for_request("POST", r"/users/@me/channels$")
    assert dm.json == {"recipient_id": str(alice.id)}
    dm_channel = fake.dm_channel_for(alice.id)
    ledger = await fake.wait_for_message(dm_channel.id, lambda m: bool(m["embeds"]))
    assert ledger["embeds"][0]["title"] == "Your ledger"
    await asyncio.sleep(0.05)
    # Nothing private was posted in the server channel.
    assert not [m for m in fake.messages.get(guild.default_channel.id, []) if _from_bot(fake, m) and "ledger" in str(m)]


async def test_poll_created_by_prefix_takes_votes_on_its_buttons(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, alice: FakeMember, bob: FakeMember
) -> None:
    channel = guild.default_channel
    said = await fake.say('!poll create "Lunch?" "Pizza | Sushi | Tacos" 1h', author=alice, channel=channel)
    poll_message = await fake.wait_for_message(channel.id, _reply_to(said))
    embed = poll_message["embeds"][0]
    assert "Lunch?" in str(embed)
    assert "Pizza" in str(embed)
    assert "Tacos" in str(embed)
    assert "<t:" in str(embed)  # closes in an hour
    buttons = [c for row in poll_message["components"] for c in row["components"]]
    sushi = next(c["custom_id"] for c in buttons if c.get("label", "").startswith("Sushi"))
    vote = await fake.click(poll_message, sushi, user=bob)
    assert vote.ephemeral
    assert "Sushi" in vote.content


async def test_server_only_commands_and_group_permissions_hold_for_the_prefix_path(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, alice: FakeMember
) -> None:
    dm = fake.dm_channel_for(alice.id)
    await fake.say("!shop list", author=alice, channel=dm)
    reply = await fake.wait_for_message(dm.id, lambda m: _from_bot(fake, m))
    assert reply["content"] == "This command works only in a server."

    # /automod's subcommands inherit the group's Manage Server requirement, as Discord applies it to slash.
    said = await fake.say("!automod status", author=alice, channel=guild.default_channel)
    refusal = await fake.wait_for_message(guild.default_channel.id, _reply_to(said))
    assert "You need the **Manage Server** permission" in refusal["content"]
