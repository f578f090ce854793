"""The gateway intake: the interaction clock behind load shedding (an interaction's age by our clock, whatever the
clocks' offset), and the raw MESSAGE_CREATE handlers."""

from __future__ import annotations

import logging
import time
from typing import cast

import hikari
import pytest

from hanabi.infra.gateway_messages import GatewayMessage
from hanabi.infra.intake import EventIntake, InteractionClock, snowflake_seconds
from tests.harness.snowflakes import DISCORD_EPOCH_MS


def snowflake_at(unix_seconds: float) -> int:
    return (int(unix_seconds * 1000) - DISCORD_EPOCH_MS) << 22


def test_age_is_measured_from_the_fastest_delivery_so_a_clock_offset_does_not_count() -> None:
    clock = InteractionClock()
    discord_now = 1_800_000_000.0
    ours_ahead = 30.0  # our clock 30 s ahead of Discord's: raw ages would all look expired
    assert snowflake_seconds(snowflake_at(discord_now)) == discord_now
    assert clock.age(snowflake_at(discord_now), discord_now + ours_ahead + 0.01) == 0.0
    assert abs(clock.age(snowflake_at(discord_now + 1), discord_now + 1 + ours_ahead + 0.2) - 0.19) < 1e-3
    # Created 4 s before it reached us: late by 4 s, minus the fastest delivery's 10 ms.
    assert abs(clock.age(snowflake_at(discord_now + 2), discord_now + 6 + ours_ahead) - 3.99) < 1e-3


def test_a_clock_step_is_forgotten_after_two_windows() -> None:
    clock = InteractionClock()
    start = 1_800_000_000.0
    clock.age(snowflake_at(start), start)
    # Our clock steps 10 s ahead: for a while everything looks 10 s late (the old floor is kept)...
    assert clock.age(snowflake_at(start + 1), start + 11) > 9
    # ...until both windows that held the old floor have passed.
    for minute in range(1, 4):
        now = start + 60 * minute + 10
        age = clock.age(snowflake_at(now - 10), now)
    assert age == 0.0


def test_intake_drops_only_expired_interactions_and_its_own_messages() -> None:
    intake = EventIntake(late_on_arrival=2.5)
    assert intake.admit("READY", {"user": {"id": "42"}})
    assert not intake.admit("MESSAGE_CREATE", {"author": {"id": "42"}, "content": "my own reply"})
    assert intake.admit("MESSAGE_CREATE", {"author": {"id": "7"}, "content": "a user's message"})
    now = time.time()
    assert intake.admit("INTERACTION_CREATE", {"id": str(snowflake_at(now))})
    assert not intake.admit("INTERACTION_CREATE", {"id": str(snowflake_at(now - 5))})
    assert intake.interactions_expired == 1
    assert intake.counts == {"READY": 1, "MESSAGE_CREATE": 2, "INTERACTION_CREATE": 2}


def test_too_late_to_start_uses_the_same_clock() -> None:
    intake = EventIntake(late_on_start=2.5)
    now = time.time()
    assert intake.admit("INTERACTION_CREATE", {"id": str(snowflake_at(now))})  # the fastest delivery so far
    assert not intake.too_late_to_start(snowflake_at(now - 1))
    assert intake.too_late_to_start(snowflake_at(now - 3))


def test_a_guild_message_payload_becomes_a_gateway_message() -> None:
    payload = {
        "id": "11",
        "channel_id": "22",
        "guild_id": "33",
        "author": {"id": "44", "username": "alice", "bot": False},
        "member": {"roles": ["55", "56"], "joined_at": "2024-01-01T00:00:00+00:00"},
        "content": "hi <@66> <@&77>",
        "mentions": [{"id": "66", "username": "bob"}],
        "mention_roles": ["77"],
    }
    message = GatewayMessage.from_payload(payload)
    assert message == GatewayMessage(
        id=11,
        channel_id=22,
        guild_id=33,
        author_id=44,
        author_is_bot=False,
        author_is_system=False,
        webhook_id=None,
        content="hi <@66> <@&77>",
        user_mention_ids=(66,),
        role_mention_ids=(77,),
        member_role_ids=(55, 56),
    )


def test_direct_and_webhook_messages_have_no_member_and_may_have_no_content() -> None:
    direct = GatewayMessage.from_payload({"id": "1", "channel_id": "2", "author": {"id": "3", "system": True}})
    assert (direct.guild_id, direct.member_role_ids, direct.content, direct.author_is_system) == (None, None, "", True)
    hook = GatewayMessage.from_payload(
        {"id": "1", "channel_id": "2", "guild_id": "4", "webhook_id": "5", "author": {"id": "5", "bot": True}}
    )
    assert (hook.webhook_id, hook.member_role_ids, hook.author_is_bot) == (5, None, True)


def test_message_handlers_get_every_message_in_order_and_one_failure_does_not_stop_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    intake = EventIntake()
    seen: list[tuple[str, int]] = []

    def broken(message: GatewayMessage, _shard: object, _payload: object) -> None:
        raise RuntimeError("boom")

    def first(message: GatewayMessage, _shard: object, _payload: object) -> None:
        seen.append(("first", message.id))

    intake.on_message(first)
    intake.on_message(broken)
    intake.on_message(lambda message, _shard, _payload: seen.append(("last", message.id)))
    shard = cast("hikari.api.GatewayShard", object())
    with caplog.at_level(logging.ERROR, logger="hanabi.infra.intake"):
        for message_id in (1, 2):
            intake.deliver_message(shard, {"id": str(message_id), "channel_id": "9", "author": {"id": "8"}})
    assert seen == [("first", 1), ("last", 1), ("first", 2), ("last", 2)]
    assert [r.getMessage().split(" failed")[0].startswith("message handler") for r in caplog.records] == [True, True]

    intake.remove_message_handler(broken)
    with caplog.at_level(logging.WARNING, logger="hanabi.infra.intake"):
        intake.deliver_message(shard, {"id": "3", "content": "no author, no channel"})
    assert seen[-1] == ("last", 2)  # not a message: no handler saw it
    assert "not a message" in caplog.records[-1].getMessage()
