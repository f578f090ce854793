"""MESSAGE_CREATE through the whole bot with automod on: messages/s and dispatch-to-decision lag.

    .venv/bin/python bench/messages.py [--rates 1000,2500,5000] [--seconds 10] [--quick] [--json out]

Clean chat from 50,000 authors (none trips a rule) is sent open-loop at each rate. Clean messages have no
observable decision, so 10 times a second a sentinel message carrying an invite link (a default automod rule)
is mixed in from a real member; the lag is from writing the sentinel to the gateway to the bot's DELETE of it
arriving at the fake. Those sentinels queue behind every clean message before them, so their lag is the lag
of the whole stream: a bot that falls behind shows it as a growing lag.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time

from _harness import (
    BenchDiscord,
    StepResult,
    base_parser,
    bot_session,
    extra_env,
    generator_gc_paused,
    message_payload,
    write_json,
)

from tests.harness.payloads import iso, user_payload

AUTHORS = 50_000
SENTINEL_MEMBERS = 1_500
SENTINELS_PER_SECOND = 10
TEXTS = [
    "hello everyone, how is it going?",
    "did anyone see the match yesterday",
    "lol",
    "ok",
    "I think the new patch broke my build again, anyone else?",
    "gm",
    "see you tomorrow",
    "that was a great game",
]


def build(fake: BenchDiscord) -> None:
    fake.add_guild("Bench", members=SENTINEL_MEMBERS)


async def step(
    fake: BenchDiscord, rate: float, seconds: float, clean: itertools.cycle, sentinels: itertools.cycle, bot
) -> StepResult:  # type: ignore[no-untyped-def, type-arg]
    guild = next(iter(fake.guilds.values()))
    fake.trim()
    cpu_before = bot.cpu_seconds()
    loop = asyncio.get_running_loop()
    total = int(rate * seconds)
    every = max(1, int(rate / SENTINELS_PER_SECOND))
    sent_at: dict[str, float] = {}
    start = loop.time() + 0.05
    sent = 0
    counter = itertools.count()
    while sent < total:
        now = loop.time()
        due = min(total, int((now - start) * rate) + 1) if now >= start else 0
        while sent < due:
            if sent % every == 0:
                member = next(sentinels)
                message = message_payload(
                    fake, guild, member.user, f"join discord.gg/bench{next(counter)}", member.payload(with_user=False)
                )
                sent_at[message["id"]] = await fake.send_message(message)
            else:
                author, member_json, text = next(clean)
                await fake.send_message(message_payload(fake, guild, author, text, member_json))
            sent += 1
        delay = start + sent / rate - loop.time()
        await asyncio.sleep(max(delay, 0))
    elapsed = loop.time() - start
    deleted: dict[str, float] = {}
    pattern = re.compile(r"/channels/\d+/messages/(\d+)$")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for request in fake.requests:
            if request.method == "DELETE" and (match := pattern.search(request.path)):
                deleted.setdefault(match.group(1), request.time)
        if len(deleted) >= len(sent_at):
            break
        await asyncio.sleep(0.1)
    lags = [deleted[mid] - t for mid, t in sent_at.items() if mid in deleted]
    result = StepResult(
        "MESSAGE_CREATE", rate, sent, sent, max(elapsed, seconds), lags, bot_cpu=bot.cpu_seconds() - cpu_before
    )
    result.answered = len(lags)
    result.sent = len(sent_at)
    result.seconds = max(elapsed, seconds)
    achieved = total / max(elapsed, seconds)
    print(
        f"MESSAGE_CREATE {rate:>6.0f}/s offered, {achieved:>6.0f}/s sent; "
        f"sentinels {len(lags)}/{len(sent_at)} decided; "
        f"lag p50 {result.p50 * 1000:.1f} ms, p95 {result.p95 * 1000:.1f} ms, p99 {result.p99 * 1000:.1f} ms; "
        f"bot CPU {(result.bot_cpu * 1e6 / total):.0f} us/message",
        flush=True,
    )
    return result


async def run(rates: list[float], seconds: float, settings: dict[str, str]) -> dict[str, object]:
    figures: dict[str, object] = {}
    async with bot_session(build, settings=settings) as session:
        fake = session.fake
        guild = next(iter(fake.guilds.values()))
        joined = iso()
        clean_pool = []
        for index in range(AUTHORS):
            user = user_payload(10**15 + index, f"chatter{index}")
            member_json = {
                "roles": [],
                "nick": None,
                "avatar": None,
                "joined_at": joined,
                "deaf": False,
                "mute": False,
                "flags": 0,
                "pending": False,
                "communication_disabled_until": None,
            }
            clean_pool.append((user, member_json, TEXTS[index % len(TEXTS)] + f" #{index % 97}"))
        clean = itertools.cycle(clean_pool)
        people = [m for m in guild.members.values() if not m.user.get("bot") and m.id != fake.owner_id]
        sentinels = itertools.cycle(people)
        await step(fake, 200, 2, clean, sentinels, session.bot)  # warm-up
        steps = []
        for rate in rates:
            with generator_gc_paused():
                result = await step(fake, rate, seconds, clean, sentinels, session.bot)
            steps.append(result)
            figures[str(int(rate))] = {
                "achieved": round(result.offered if result.seconds else 0, 0),
                "lag_p50_ms": round(result.p50 * 1000, 1),
                "lag_p95_ms": round(result.p95 * 1000, 1),
                "lag_p99_ms": round(result.p99 * 1000, 1) if result.p99 != float("inf") else None,
                "decided": result.answered,
                "sentinels": result.sent,
                "bot_cpu_us_per_message": round(result.bot_cpu * 1e6 / (rate * seconds), 1),
            }
        best = 0.0
        for result in steps:
            if result.p99 < 0.05 and result.answered >= 0.99 * result.sent:
                best = result.offered
        figures["sustained_p99_under_50ms"] = best
        print(f"highest rate with automod decision lag p99 < 50 ms: {best:.0f}/s", flush=True)
    return figures


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rates", default="1000,2500,5000")
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    seconds = 3 if args.quick else args.seconds
    figures = asyncio.run(run(rates, seconds, extra_env(args.env)))
    write_json(args.json, {"messages": figures})


if __name__ == "__main__":
    main()
