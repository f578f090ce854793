"""Automod engine benchmark: messages per second on one core, and memory after 1,000,000 members spoke once.

    .venv/bin/python bench/automod.py [--messages 300000]

Only the rule engine (`hanabi.services.automod.AutomodEngine`) is measured, with every rule on (links too).
The whole-bot figure (MESSAGE_CREATE from the fake gateway through hikari and lightbulb) belongs to the
performance issue's gateway benchmark and is not measured here.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from hanabi.services.automod import AutomodConfig, AutomodEngine, MessageFacts, Rule, RuleSettings

GUILDS = 50
MEMBERS_PER_GUILD = 2_000


class BenchClock:
    """Advances a little on every read: about 1,000 messages per simulated second."""

    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return datetime.now(UTC)  # unused by the engine


TEXTS = [
    "hello everyone, how is it going?",
    "did anyone see the match yesterday",
    "lol",
    "check this out https://github.com/hikari-py/hikari",
    "ok",
    "I think the new patch broke my build again, anyone else?",
    "gm",
    "see https://example.org/some/long/path?with=query for details",
    "join my server discord.gg/freestuff",
    "hey <@123> and <@456> look",
    "",
]


def make_messages(count: int, rng: random.Random) -> list[MessageFacts]:
    messages = []
    for i in range(count):
        guild = rng.randrange(GUILDS) + 1
        text = rng.choice(TEXTS)
        mentions = (123, 456) if "<@" in text else ()
        messages.append(
            MessageFacts(
                guild_id=guild,
                channel_id=guild * 1000 + rng.randrange(5),
                message_id=10**17 + i,
                author_id=rng.randrange(MEMBERS_PER_GUILD) + 1,
                content=text,
                user_mention_ids=mentions,
                role_ids=(guild * 10 + rng.randrange(3),),
            )
        )
    return messages


def all_rules(guild_id: int) -> AutomodConfig:
    config = AutomodConfig(
        guild_id=guild_id,
        link_allowlist=frozenset({"github.com"}),
        exempt_role_ids=frozenset({guild_id * 10 + 7}),
        exempt_channel_ids=frozenset({guild_id * 1000 + 99}),
    )
    return config.with_rule(Rule.LINKS, RuleSettings(True))


def throughput(count: int) -> tuple[float, int]:
    rng = random.Random(8)
    messages = make_messages(count, rng)
    configs = {g: all_rules(g) for g in range(1, GUILDS + 1)}
    clock = BenchClock()
    engine = AutomodEngine(clock)
    check = engine.check
    verdicts = 0
    gc.collect()
    started = time.perf_counter()
    for message in messages:
        clock.t += 0.001
        if check(configs[message.guild_id], message) is not None:
            verdicts += 1
    elapsed = time.perf_counter() - started
    return count / elapsed, verdicts


def memory(members: int, max_members: int) -> tuple[float, float, int, int]:
    """MiB retained by the engine after `members` distinct members spoke once, and after their windows expired."""
    clock = BenchClock()
    config = all_rules(1)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    engine = AutomodEngine(clock, max_members=max_members)
    for member in range(members):
        clock.t += 0.00001  # a million members inside ten seconds: the worst case for the windows
        engine.check(config, MessageFacts(1, 1000, 10**17 + member, member, "hello there"))
    gc.collect()
    after_burst = tracemalloc.get_traced_memory()[0] - base
    tracked = engine.tracked_members
    clock.t += 120  # every window has expired; the next messages sweep them
    for member in range(2_000):
        engine.check(config, MessageFacts(1, 1000, 10**18 + member, 10**9 + member, "hello"))
    gc.collect()
    after_expiry = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return after_burst / 2**20, after_expiry / 2**20, tracked, engine.tracked_members


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--members", type=int, default=1_000_000)
    args = parser.parse_args()

    rate, verdicts = throughput(args.messages)
    print(f"engine throughput: {rate:,.0f} messages/s on one core, all rules on ({verdicts:,} verdicts)")
    print(f"  target: >= 50,000 messages/s -> {'met' if rate >= 50_000 else 'NOT met'}")

    burst, expired, tracked, left = memory(args.members, max_members=100_000)
    print(
        f"memory after {args.members:,} distinct members spoke once (default cap 100,000 tracked): "
        f"{burst:.1f} MiB ({tracked:,} tracked); after the windows expired: {expired:.1f} MiB ({left:,} tracked)"
    )
    burst, expired, tracked, left = memory(args.members, max_members=args.members * 2)
    print(
        f"memory with no cap (all {args.members:,} inside one window): {burst:.1f} MiB ({tracked:,} tracked); "
        f"after the windows expired: {expired:.1f} MiB ({left:,} tracked)"
    )
    print("whole-bot gateway benchmark (5,000 MESSAGE_CREATE/s, p99 < 50 ms): not measured here (performance issue)")


if __name__ == "__main__":
    main()
