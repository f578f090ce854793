"""Startup: process start (`python -m hanabi`) to READY and to the command sync, median of several runs.

    .venv/bin/python bench/startup.py [--runs 5] [--quick] [--json out]

Two database setups: the embedded PostgreSQL already initialised in DATA_DIR (a first, untimed run creates it),
and an external PostgreSQL (a scratch database, already migrated). READY is the fake gateway's session becoming
ready (READY and every GUILD_CREATE sent after IDENTIFY); the sync is the bot's command registration arriving.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from _harness import (
    BenchDiscord,
    base_parser,
    bench_database,
    bot_environment,
    extra_env,
    pin_self,
    start_bot,
    write_json,
)


async def once(database_url: str | None, data_dir: Path, settings: dict[str, str]) -> tuple[float, float]:
    fake = BenchDiscord()
    fake.add_guild("Startup")
    await fake.start()
    try:
        env = bot_environment(fake, database_url, data_dir, **settings)
        bot = await start_bot(env, data_dir / "bot.log")
        try:
            await fake.wait_ready(timeout=120)
            ready = time.monotonic() - bot.started
            await fake.wait_command("ping", timeout=120)
            synced = time.monotonic() - bot.started
        except TimeoutError:
            print(bot.log_tail())
            raise
        finally:
            await bot.stop()
    finally:
        await fake.stop()
    return ready, synced


async def series(
    label: str, database_url: str | None, data_dir: Path, runs: int, settings: dict[str, str]
) -> dict[str, float]:
    await once(database_url, data_dir, settings)  # untimed: initialises the embedded cluster, warms the page cache
    readies, syncs = [], []
    for _ in range(runs):
        ready, synced = await once(database_url, data_dir, settings)
        readies.append(ready)
        syncs.append(synced)
    figures = {"ready_s": round(statistics.median(readies), 3), "synced_s": round(statistics.median(syncs), 3)}
    print(
        f"{label}: start -> READY {figures['ready_s']:.2f} s, -> commands synced {figures['synced_s']:.2f} s "
        f"(median of {runs}; READY min {min(readies):.2f} max {max(readies):.2f})",
        flush=True,
    )
    return figures


async def run(runs: int, settings: dict[str, str]) -> dict[str, object]:
    pin_self()
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="hanabi-startup-") as tmp:
        try:
            figures["embedded"] = await series("embedded PostgreSQL (initialised)", None, Path(tmp), runs, settings)
        except Exception as exc:
            print(f"embedded PostgreSQL: not measured ({type(exc).__name__}: {exc})")
    async with bench_database() as dsn:
        with tempfile.TemporaryDirectory(prefix="hanabi-startup-") as tmp:
            figures["external"] = await series("external PostgreSQL", dsn, Path(tmp), runs, settings)
    return figures


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    figures = asyncio.run(run(2 if args.quick else args.runs, extra_env(args.env)))
    write_json(args.json, {"startup": figures})


if __name__ == "__main__":
    main()
