"""Bot memory after READY: 1,000 guilds x 100 members x 20 channels, without and with members in GUILD_CREATE.

    .venv/bin/python bench/memory.py [--guilds 1000] [--quick] [--json out]

Three bot processes: a baseline with one guild, then N guilds as Discord sends them to a bot without the
members intent (only the bot itself in `members`), then N guilds with every member (as sent with the members
intent; forced through the bench fake). RSS is read once the bot has every guild in its cache and has been idle
for a few seconds; the increment per guild is (RSS - baseline RSS) / (N - 1).
"""

from __future__ import annotations

import asyncio
import gc

from _harness import BenchDiscord, base_parser, bot_session, extra_env, write_json

MEMBERS = 100
CHANNELS = 20


def populate(fake: BenchDiscord, guilds: int) -> None:
    for index in range(guilds):
        guild = fake.add_guild(f"Guild {index}", members=MEMBERS - 2)  # + owner + bot = 100
        for number in range(CHANNELS - 2):  # + #general and a voice channel = 20
            guild.add_text_channel(f"channel-{number}")


async def measure(guilds: int, *, force_members: bool, settings: dict[str, str]) -> tuple[float, float]:
    fake = BenchDiscord()
    fake.force_members = force_members
    gc.collect()
    async with bot_session(lambda f: populate(f, guilds), fake=fake, settings=settings, ready_timeout=300) as session:
        deadline = asyncio.get_running_loop().time() + 120
        while asyncio.get_running_loop().time() < deadline:
            cached = await asyncio.to_thread(session.bot.metric, "hanabi_guilds")
            if cached is not None and cached >= guilds:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(3)  # GUILD_CREATE work done, GC settled
        rss = session.bot.rss() / 1024
        return rss, (asyncio.get_running_loop().time() - session.bot.started)


async def run(guilds: int, settings: dict[str, str]) -> dict[str, object]:
    baseline, _ = await measure(1, force_members=False, settings=settings)
    print(f"baseline (1 guild): RSS {baseline / 1024:.1f} MiB", flush=True)
    figures: dict[str, object] = {"guilds": guilds, "baseline_rss_mb": round(baseline / 1024, 1)}
    for label, force in (("without_members", False), ("with_members", True)):
        rss, _ = await measure(guilds, force_members=force, settings=settings)
        per_guild = (rss - baseline) / max(guilds - 1, 1)
        print(
            f"{guilds} guilds x {MEMBERS} members x {CHANNELS} channels, {label.replace('_', ' ')}: "
            f"RSS {rss / 1024:.1f} MiB, {per_guild:.1f} KiB per guild",
            flush=True,
        )
        figures[label] = {"rss_mb": round(rss / 1024, 1), "kib_per_guild": round(per_guild, 1)}
    return figures


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--guilds", type=int, default=1000)
    args = parser.parse_args()
    guilds = 200 if args.quick else args.guilds
    figures = asyncio.run(run(guilds, extra_env(args.env)))
    write_json(args.json, {"memory": figures})


if __name__ == "__main__":
    main()
