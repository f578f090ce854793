"""The interaction clock behind load shedding: an interaction's age by our clock, whatever the clocks' offset."""

from __future__ import annotations

import time

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
