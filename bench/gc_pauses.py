"""Longest garbage-collection pause in the bot under interaction load, GC_TUNING off and on.

    .venv/bin/python bench/gc_pauses.py [--rate 400] [--seconds 10] [--quick] [--json out]

The default rate is about the highest this machine sustains for /ping and /balance mixed: past it, queued
interactions pile up and every collection walks the backlog, which measures the backlog, not the collector.

The bot runs with HANABI_GC_STATS_FILE set, so `hanabi.infra.gcstats` times every collection through
`gc.callbacks` and writes the pauses at shutdown; only pauses inside the load window are counted.
/ping and /balance alternate.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path

from _harness import base_parser, bot_session, extra_env, open_loop, write_json
from interactions import build, seed, senders

from tests.harness.discord.state import InteractionRecord


async def one(rate: float, seconds: float, settings: dict[str, str]) -> dict[str, object]:
    figures: dict[str, object] = {}
    async with bot_session(build, seed=seed, settings=settings) as session:
        send = await senders(session.fake)
        turn = itertools.count()

        async def mixed(i: int) -> InteractionRecord:
            return await (send["ping"] if next(turn) % 2 else send["balance"])(i)

        await open_loop(session.fake, "warmup", 100, 2, mixed, bot=session.bot)
        began = time.time()
        step = await open_loop(session.fake, "ping+balance", rate, seconds, mixed, bot=session.bot)
        ended = time.time()
        print(step.row(), flush=True)
        figures["step"] = step.as_dict()
        stats_path = settings["HANABI_GC_STATS_FILE"]
    stats_file = Path(stats_path)
    if not stats_file.exists():  # noqa: ASYNC240 - the bot has exited
        print(f"the bot wrote no GC statistics to {stats_file} (killed before shutting down?)", flush=True)
        stats = {"pauses": [], "thresholds": None, "frozen": None}
    else:
        stats = json.loads(stats_file.read_text(encoding="utf-8"))  # noqa: ASYNC240 - small, the bot has exited
        stats_file.unlink()  # noqa: ASYNC240
    window = [(g, p) for t, g, p in stats["pauses"] if began <= t <= ended]
    for generation in (0, 1, 2):
        pauses = [p for g, p in window if g == generation]
        figures[f"gen{generation}"] = {"count": len(pauses), "max_ms": max(pauses, default=0.0)}
    # No statistics (the bot was killed while draining a backlog) is "no data", never a zero-ms pause.
    figures["max_pause_ms"] = max((p for _, p in window), default=None) if stats["pauses"] else None
    figures["total_pause_ms"] = round(sum(p for _, p in window), 1)
    figures["thresholds"] = stats["thresholds"]
    figures["frozen"] = stats["frozen"]
    return figures


async def run(rate: float, seconds: float, settings: dict[str, str]) -> dict[str, object]:
    results: dict[str, object] = {}
    for tuning in ("false", "true"):
        path = f"/tmp/hanabi-gc-{tuning}-{int(time.time() * 1000)}.json"
        figures = await one(rate, seconds, {**settings, "GC_TUNING": tuning, "HANABI_GC_STATS_FILE": path})
        longest = figures["max_pause_ms"]
        print(
            f"GC_TUNING={tuning}: longest pause "
            f"{'no data' if longest is None else f'{longest:.2f} ms'}, "
            f"total {figures['total_pause_ms']} ms over the window; by generation "
            + ", ".join(f"{g}: {figures[g]}" for g in ("gen0", "gen1", "gen2")),
            flush=True,
        )
        results[f"gc_tuning_{tuning}"] = figures
    return results


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=400)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    seconds = 3 if args.quick else args.seconds
    figures = asyncio.run(run(args.rate, seconds, extra_env(args.env)))
    write_json(args.json, {"gc_pauses": figures})


if __name__ == "__main__":
    main()
