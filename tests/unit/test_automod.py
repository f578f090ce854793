"""The automod rule engine with a manual clock: rules, escalation, exemptions, bounded state."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from hanabi.services.automod import (
    DEFAULT_LADDER,
    Action,
    AutomodConfig,
    AutomodEngine,
    MessageFacts,
    Rule,
    RuleSettings,
    Step,
    escalate,
    format_ladder,
    parse_duration,
    parse_ladder,
)
from hanabi.services.moderation import (
    ExistingNativeRule,
    NativeKind,
    plan_native_disable,
    plan_native_enable,
)
from hanabi.ui.cooldowns import CommandCooldowns, Cooldown
from tests.harness.clock import ManualClock

GUILD = 1
CHANNEL = 10
ALICE = 100
_ids = itertools.count(1000)


def msg(content: str = "hello", *, author: int = ALICE, channel: int = CHANNEL, **extra: Any) -> MessageFacts:
    return MessageFacts(
        guild_id=GUILD, channel_id=channel, message_id=next(_ids), author_id=author, content=content, **extra
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def engine(clock: ManualClock) -> AutomodEngine:
    return AutomodEngine(clock)


@pytest.fixture
def config() -> AutomodConfig:
    return AutomodConfig(guild_id=GUILD)


def test_flood_fires_on_the_seventh_message_in_five_seconds_and_deletes_them_all(
    engine: AutomodEngine, config: AutomodConfig, clock: ManualClock
) -> None:
    verdicts = []
    for i in range(10):
        verdicts.append(engine.check(config, msg(f"message {i}")))
        clock.advance(seconds=0.2)
    assert verdicts[:6] == [None] * 6
    first = verdicts[6]
    assert first is not None
    assert first.rule is Rule.FLOOD
    assert len(first.delete) == 7
    assert first.punishment == Step(Action.TIMEOUT, 600)  # the flood rule's own minimum
    assert first.strike == 1
    # The rest of the flood is deleted as the same incident: no new strike, no new punishment.
    for tail in verdicts[7:]:
        assert tail is not None
        assert tail.follow_up
        assert len(tail.delete) == 1
        assert tail.punishment.action is Action.NONE
    assert engine.strikes(GUILD, ALICE) == 1


def test_slow_talkers_never_flood(engine: AutomodEngine, config: AutomodConfig, clock: ManualClock) -> None:
    for i in range(50):
        assert engine.check(config, msg(f"thought {i}")) is None
        clock.advance(seconds=1)


def test_duplicates(engine: AutomodEngine, config: AutomodConfig, clock: ManualClock) -> None:
    results = []
    for _ in range(4):
        results.append(engine.check(config, msg("Buy   CHEAP gold")))
        clock.advance(seconds=3)
    assert results[:3] == [None, None, None]
    verdict = results[3]
    assert verdict is not None
    assert verdict.rule is Rule.DUPLICATES
    assert len(verdict.delete) == 4
    assert verdict.punishment == Step(Action.WARN)


def test_duplicates_outside_the_window_do_not_count(
    engine: AutomodEngine, config: AutomodConfig, clock: ManualClock
) -> None:
    for _ in range(6):
        assert engine.check(config, msg("gm")) is None
        clock.advance(seconds=11)


def test_mentions_count_distinct_users_roles_and_everyone_attempts(
    engine: AutomodEngine, config: AutomodConfig
) -> None:
    # 3 users (one repeated, and the author does not count) + 2 roles = 5: below 6.
    assert engine.check(config, msg("hi", user_mention_ids=(1, 2, 3, 3, ALICE), role_mention_ids=(7, 8))) is None
    # An @everyone attempt without permission counts as one more.
    verdict = engine.check(config, msg("hi @everyone", user_mention_ids=(1, 2, 3), role_mention_ids=(7, 8)))
    assert verdict is not None
    assert verdict.rule is Rule.MENTIONS
    assert "@everyone" in verdict.reason
    # With the permission it is a real mention and does not count.
    allowed = msg("hi @everyone", user_mention_ids=(1, 2, 3), role_mention_ids=(7, 8), can_mention_everyone=True)
    assert engine.check(config, allowed) is None


def test_invites_and_allowlist(engine: AutomodEngine, config: AutomodConfig) -> None:
    verdict = engine.check(config, msg("join https://discord.gg/FreeNitro now"))
    assert verdict is not None
    assert verdict.rule is Rule.INVITES
    ours = AutomodConfig(guild_id=GUILD, invite_allowlist=frozenset({"hanabi"}))
    assert engine.check(ours, msg("our server: discord.com/invite/hanabi")) is None
    assert engine.check(config, msg("I use discord every day")) is None


def test_links_outside_the_allowlist_when_enabled(engine: AutomodEngine) -> None:
    config = AutomodConfig(guild_id=GUILD, link_allowlist=frozenset({"github.com"})).with_rule(
        Rule.LINKS, RuleSettings(True)
    )
    assert engine.check(config, msg("see https://github.com/hikari-py/hikari")) is None
    assert engine.check(config, msg("see https://gist.github.com/x")) is None  # subdomain
    verdict = engine.check(config, msg("free stuff at http://evil.example/login"))
    assert verdict is not None
    assert verdict.rule is Rule.LINKS
    assert "evil.example" in verdict.reason
    # Off by default.
    assert engine.check(AutomodConfig(guild_id=GUILD), msg("http://evil.example")) is None


@pytest.mark.parametrize(
    "facts",
    [
        msg("@everyone " * 10, author_is_bot=True),
        msg("@everyone " * 10, is_webhook=True),
        msg("@everyone " * 10, can_manage_messages=True),
        msg("@everyone " * 10, protected=True),
        msg("@everyone " * 10, role_ids=(55,)),
        msg("@everyone " * 10, channel=77),
    ],
    ids=["bot", "webhook", "moderator", "protected", "exempt-role", "exempt-channel"],
)
def test_exemptions(engine: AutomodEngine, facts: MessageFacts) -> None:
    config = AutomodConfig(guild_id=GUILD, exempt_role_ids=frozenset({55}), exempt_channel_ids=frozenset({77}))
    mentions = config.with_rule(Rule.MENTIONS, RuleSettings(True, count=1))
    assert engine.check(mentions, facts) is None
    assert engine.check(mentions, msg("@everyone")) is not None


def test_escalation_climbs_the_ladder_within_the_strike_window(
    engine: AutomodEngine, config: AutomodConfig, clock: ManualClock
) -> None:
    actions = []
    for _ in range(5):
        verdict = engine.check(config, msg("discord.gg/spam"))
        assert verdict is not None
        actions.append((verdict.strike, verdict.punishment))
        clock.advance(minutes=5)
    assert actions == [
        (1, Step(Action.WARN)),
        (2, Step(Action.TIMEOUT, 600)),
        (3, Step(Action.TIMEOUT, 3600)),
        (4, Step(Action.KICK)),
        (5, Step(Action.KICK)),
    ]
    # After the strike window, strikes are forgotten.
    clock.advance(hours=25)
    verdict = engine.check(config, msg("discord.gg/spam"))
    assert verdict is not None
    assert verdict.strike == 1


def test_escalate_keeps_the_harsher_of_rule_and_ladder() -> None:
    flood = RuleSettings(True, count=6, seconds=5, action=Step(Action.TIMEOUT, 600))
    assert escalate(flood, DEFAULT_LADDER, 1) == Step(Action.TIMEOUT, 600)
    assert escalate(flood, DEFAULT_LADDER, 3) == Step(Action.TIMEOUT, 3600)
    no_ladder = RuleSettings(True, action=Step(Action.WARN), escalate=False)
    assert escalate(no_ladder, DEFAULT_LADDER, 4) == Step(Action.WARN)


def test_dry_run_verdicts_are_marked(engine: AutomodEngine) -> None:
    config = AutomodConfig(guild_id=GUILD, dry_run=True)
    verdict = engine.check(config, msg("discord.gg/spam"))
    assert verdict is not None
    assert verdict.dry_run


def test_state_is_bounded_and_expires(clock: ManualClock) -> None:
    engine = AutomodEngine(clock, max_members=1000, sweep_every=64)
    config = AutomodConfig(guild_id=GUILD)
    for user in range(5000):
        engine.check(config, msg("hi", author=user))
    assert engine.tracked_members <= 1000  # capped even inside the window
    clock.advance(seconds=60)  # past every window
    for user in range(100):
        engine.check(config, msg("hi", author=100_000 + user))
    assert engine.tracked_members <= 100  # idle windows swept


def test_clear_strikes_and_forget_guild(engine: AutomodEngine, config: AutomodConfig) -> None:
    engine.check(config, msg("discord.gg/abc"))
    assert engine.strikes(GUILD, ALICE) == 1
    engine.clear_strikes(GUILD, ALICE)
    assert engine.strikes(GUILD, ALICE) == 0
    engine.check(config, msg("discord.gg/abc"))
    engine.forget_guild(GUILD)
    assert engine.strikes(GUILD, ALICE) == 0


def test_ladder_and_duration_parsing() -> None:
    assert parse_ladder("warn, 10m, 1h, kick") == DEFAULT_LADDER
    assert parse_ladder("warn -> timeout 30m -> kick")[1] == Step(Action.TIMEOUT, 1800)
    assert format_ladder(DEFAULT_LADDER) == "warn → timeout 10m → timeout 1h → kick"
    assert parse_duration("90s") == 90
    assert parse_duration("2d") == 172800
    for bad in ("", "ban", "29d", "10x"):
        with pytest.raises(ValueError, match=r".*"):
            parse_ladder(bad)


def test_native_plan_creates_updates_and_respects_quotas() -> None:
    config = AutomodConfig(guild_id=GUILD)
    plan = plan_native_enable(config, [], ["profanity"], alert_channel_id=5)
    assert [(c.kind, c.operation) for c in plan.changes] == [
        (NativeKind.MENTION_SPAM, "create"),
        (NativeKind.SPAM, "create"),
        (NativeKind.KEYWORD_PRESET, "create"),
    ]
    assert plan.changes[0].spec is not None
    assert plan.changes[0].spec.mention_total_limit == 6
    assert plan.changes[0].spec.raid_protection
    existing = [
        ExistingNativeRule(1, "Hanabi: mention spam", 5, True),
        ExistingNativeRule(2, "Someone else's spam rule", 3, True),
    ]
    plan = plan_native_enable(config, existing, [], alert_channel_id=None)
    ops = {c.kind: (c.operation, c.rule_id) for c in plan.changes}
    assert ops[NativeKind.MENTION_SPAM] == ("update", 1)
    assert ops[NativeKind.SPAM][0] == "skip"
    assert plan.quotas[3] == (1, 1)
    disable = plan_native_disable(existing)
    assert [(c.kind, c.operation, c.rule_id) for c in disable.changes] == [(NativeKind.MENTION_SPAM, "disable", 1)]


def test_command_cooldowns(clock: ManualClock) -> None:
    cooldowns = CommandCooldowns(clock, Cooldown(2, 10), exempt_user_ids=[999])
    rule = cooldowns.default
    assert cooldowns.hit("ping", 1, rule) == 0
    assert cooldowns.hit("ping", 1, rule) == 0
    remaining = cooldowns.hit("ping", 1, rule)
    assert 9 < remaining <= 10
    assert cooldowns.hit("about", 1, rule) == 0  # per command
    assert cooldowns.hit("ping", 2, rule) == 0  # per user
    assert all(cooldowns.hit("ping", 999, rule) == 0 for _ in range(5))  # owners exempt
    clock.advance(seconds=10.5)
    assert cooldowns.hit("ping", 1, rule) == 0
