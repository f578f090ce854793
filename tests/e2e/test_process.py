"""`python -m hanabi` as a real process: start, READY, a command, SIGTERM, exit codes, embedded PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.harness.bot import start_bot_process
from tests.harness.discord import FakeDiscord, FakeGuild
from tests.harness.payloads import TEST_TOKEN


def _env(fake: FakeDiscord, **extra: str) -> dict[str, str]:
    return {"DISCORD_TOKEN": fake.token, "DISCORD_REST_URL": fake.rest_url, "LOG_LEVEL": "INFO", **extra}


@pytest.mark.asyncio
async def test_start_ready_ping_sigterm_exits_zero_quickly(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path
) -> None:
    bot = await start_bot_process(_env(fake, DATABASE_URL=database_url, DATA_DIR=str(tmp_path)), cwd=tmp_path)
    try:
        line = await bot.wait_for_line("online as")
        assert "shards=1" in line
        assert "guilds=1" in line
        assert "bus=local" in line
        assert "music=disabled: no node configured" in line
        reply = await fake.slash("ping", guild=guild)
        assert reply.embeds[0]["title"] == "Pong!"
    finally:
        started = time.monotonic()
        code = await bot.terminate(timeout=10)
    assert code == 0, bot.text
    assert time.monotonic() - started < 10
    assert fake.token not in bot.text, "the token must never be logged"
    assert "Traceback" not in bot.text, bot.text


@pytest.mark.asyncio
async def test_missing_token_exits_2_with_instructions(tmp_path: Path) -> None:
    bot = await start_bot_process({"DATA_DIR": str(tmp_path)}, cwd=tmp_path)
    code = await bot.exited()
    assert code == 2
    assert "DISCORD_TOKEN is not set" in bot.text
    assert "discord.com/developers/applications" in bot.text
    assert "Traceback" not in bot.text


@pytest.mark.asyncio
async def test_malformed_setting_exits_2_naming_the_variable(tmp_path: Path) -> None:
    bot = await start_bot_process(
        {
            "DISCORD_TOKEN": TEST_TOKEN,
            "METRICS_PORT": "lots",
        },
        cwd=tmp_path,
    )
    assert await bot.exited() == 2
    assert "METRICS_PORT: got 'lots'" in bot.text
    assert "Traceback" not in bot.text


@pytest.mark.asyncio
async def test_rejected_token_exits_2_with_a_clear_line(fake: FakeDiscord, database_url: str, tmp_path: Path) -> None:
    fake.reject_token = True
    bot = await start_bot_process(_env(fake, DATABASE_URL=database_url), cwd=tmp_path)
    assert await bot.exited() == 2
    assert "Discord rejected DISCORD_TOKEN (401 Unauthorized)" in bot.text
    assert "Traceback" not in bot.text
    assert fake.token not in bot.text


@pytest.mark.asyncio
async def test_readyz_is_503_before_ready_and_200_after(fake: FakeDiscord, database_url: str, tmp_path: Path) -> None:
    fake.hold_ready()  # the gateway accepts IDENTIFY but does not send READY yet
    bot = await start_bot_process(_env(fake, DATABASE_URL=database_url), cwd=tmp_path)
    url = f"http://127.0.0.1:{bot.metrics_port}"
    try:
        async with aiohttp.ClientSession() as http:
            status = None
            for _ in range(200):
                try:
                    async with http.get(f"{url}/readyz") as response:
                        status = response.status
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            assert status == 503
            async with http.get(f"{url}/healthz") as response:
                assert response.status == 200
            fake.release_ready()
            await bot.wait_for_line("online as")
            async with http.get(f"{url}/readyz") as response:
                assert response.status == 200
    finally:
        assert await bot.terminate() == 0, bot.text


@pytest.fixture
def embedded_home() -> Iterator[Path]:
    """Outside pytest's basetemp: pytest keeps that 0700, and as root the embedded PostgreSQL runs as its own
    system user, which must be able to traverse to its data directory."""
    path = Path(tempfile.mkdtemp(prefix="hanabi-embedded-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.asyncio
async def test_embedded_postgres_starts_migrates_and_is_reused(
    fake: FakeDiscord, guild: FakeGuild, embedded_home: Path
) -> None:
    tmp_path = embedded_home
    env = _env(fake, DATA_DIR=str(tmp_path / "data"))
    env.pop("DATABASE_URL", None)
    first = await start_bot_process(env, cwd=tmp_path)
    try:
        await first.wait_for_line("online as", timeout=60)
        assert "embedded PostgreSQL initialised" in first.text
        assert "applied migration 0001_guild_settings" in first.text
        assert "database=embedded" in first.text
    finally:
        assert await first.terminate(timeout=15) == 0, first.text
    assert "embedded PostgreSQL stopped" in first.text
    assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()

    second = await start_bot_process(env, cwd=tmp_path)
    try:
        await second.wait_for_line("online as", timeout=60)
        assert "embedded PostgreSQL reused" in second.text
        assert "applied migration" not in second.text  # schema already there: data survived
        reply = await fake.slash("about", guild=guild)
        assert any(f["value"] == "PostgreSQL (embedded)" for f in reply.embeds[0]["fields"])
    finally:
        assert await second.terminate(timeout=15) == 0, second.text
    # Stopped on shutdown: nothing is left running on that data directory.
    assert not _postgres_running_on(tmp_path)


def _postgres_running_on(directory: Path) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().decode(errors="ignore")
        except OSError:
            continue  # the process ended while we looked
        if "postgres" in text and str(directory) in text:
            return True
    return False


@pytest.mark.asyncio
async def test_unreachable_discord_is_one_clear_line(database_url: str, tmp_path: Path) -> None:
    from tests.harness.bot import free_port

    env = {
        "DISCORD_TOKEN": TEST_TOKEN,
        "DISCORD_REST_URL": f"http://127.0.0.1:{free_port()}/api/v10",  # nothing listens there
        "DATABASE_URL": database_url,
    }
    bot = await start_bot_process(env, cwd=tmp_path)
    assert await bot.exited() == 1
    assert "Could not reach Discord at http://127.0.0.1:" in bot.text
    assert "Traceback" not in bot.text


@pytest.mark.asyncio
async def test_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    from tests.harness.bot import free_port

    env = {
        "DISCORD_TOKEN": TEST_TOKEN,
        "DATABASE_URL": f"postgresql://hanabi:s3cret-pw@127.0.0.1:{free_port()}/hanabi",
    }
    bot = await start_bot_process(env, cwd=tmp_path)
    assert await bot.exited() == 1
    assert "Could not open the database or Redis" in bot.text
    assert "Check DATABASE_URL and REDIS_URL" in bot.text
    assert "Traceback" not in bot.text
    assert "s3cret-pw" not in bot.text


@pytest.mark.asyncio
async def test_gc_tuning_waits_for_every_guild_then_freezes_and_trims(
    fake: FakeDiscord, database_url: str, tmp_path: Path
) -> None:
    for index in range(24):  # with the fixture's guild: 25 GUILD_CREATEs after READY
        fake.add_guild(f"Server {index}", members=10)
    stats = tmp_path / "gc.json"
    env = _env(fake, DATABASE_URL=database_url, DATA_DIR=str(tmp_path), HANABI_GC_STATS_FILE=str(stats))
    bot = await start_bot_process(env, cwd=tmp_path)
    try:
        line = await bot.wait_for_line("startup settled")
    finally:
        code = await bot.terminate(timeout=10)
    assert code == 0, bot.text
    # Tuned only once all 25 guilds were cached, so their cache objects are frozen with the rest of startup.
    assert "25 guilds cached" in line
    assert "heap trimmed" in line
    figures = json.loads(stats.read_text())
    assert figures["thresholds"] == [5_000, 10, 1_000]
    assert figures["frozen"] > 10_000
