"""Logging for operators: JSON lines, colour on a terminal, per-logger levels, rotation, redaction."""

from __future__ import annotations

import io
import json
import logging
import logging.handlers
from collections.abc import Iterator
from pathlib import Path

import pytest

from hanabi.config import SettingsError, load_settings
from hanabi.infra.logging import configure_logging
from hanabi.infra.observability import RATELIMIT_LOGGER, RateLimitLogWatch
from tests.harness.bot import start_bot_process
from tests.harness.discord import FakeDiscord, FakeGuild
from tests.harness.payloads import TEST_TOKEN

TOKEN = TEST_TOKEN
TOUCHED = ("hikari", "hikari.gateway", RATELIMIT_LOGGER, "hanabi.services", "hanabi.ops.test")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in TOUCHED}
    watch = next((f for f in logging.getLogger(RATELIMIT_LOGGER).filters if isinstance(f, RateLimitLogWatch)), None)
    threshold = watch.threshold if watch is not None else None
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)
    if watch is not None and threshold is not None:
        watch.threshold = threshold


def test_json_lines_carry_the_fields_and_redact_secrets() -> None:
    stream = io.StringIO()
    configure_logging("INFO", None, [TOKEN], log_format="json", stream=stream)
    logging.getLogger("hanabi.commands").info(
        "command /%s %s with %s", "ping", "success", TOKEN, extra={"command": "ping", "guild_id": 1, "user_id": 2}
    )
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "hanabi.commands"
    assert entry["command"] == "ping"
    assert entry["guild_id"] == 1
    assert entry["user_id"] == 2
    assert entry["time"].endswith("+00:00")
    assert TOKEN not in line
    assert "[redacted]" in entry["message"]


def test_json_lines_include_tracebacks() -> None:
    stream = io.StringIO()
    configure_logging("INFO", None, [], log_format="json", stream=stream)
    try:
        raise RuntimeError("kaboom")
    except RuntimeError:
        logging.getLogger("hanabi.ops.test").exception("it failed")
    entry = json.loads(stream.getvalue().splitlines()[0])
    assert "RuntimeError: kaboom" in entry["exception"]


def test_text_is_coloured_on_a_terminal_only() -> None:
    terminal, pipe = Terminal(), io.StringIO()
    configure_logging("INFO", None, [], stream=terminal)
    logging.getLogger("hanabi.ops.test").warning("careful")
    configure_logging("INFO", None, [], stream=pipe)
    logging.getLogger("hanabi.ops.test").warning("careful")
    assert "\x1b[33mWARNING\x1b[0m" in terminal.getvalue()
    assert "\x1b[" not in pipe.getvalue()
    assert "WARNING hanabi.ops.test: careful" in pipe.getvalue()


def test_per_logger_levels_apply() -> None:
    stream = io.StringIO()
    configure_logging(
        "INFO",
        None,
        [],
        stream=stream,
        levels={"hanabi.services": "DEBUG", "hikari": "WARNING", RATELIMIT_LOGGER: "ERROR"},
    )
    assert logging.getLogger("hanabi.services").level == logging.DEBUG
    assert logging.getLogger("hikari").level == logging.WARNING
    logging.getLogger("hanabi.services.economy").debug("shown")
    logging.getLogger("hikari.rest").info("hidden")
    logging.getLogger(RATELIMIT_LOGGER).warning("hidden by the rate-limit watch")
    assert "shown" in stream.getvalue()
    assert "hidden" not in stream.getvalue()


def test_log_levels_and_format_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("LOG_LEVELS", "hikari=warning, hanabi.services=DEBUG")
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    settings = load_settings(_env_file=None)
    assert settings.log_levels == {"hikari": "WARNING", "hanabi.services": "DEBUG"}
    assert settings.log_format == "json"
    monkeypatch.setenv("LOG_LEVELS", "hikari:loud")
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None)
    assert str(info.value).startswith("LOG_LEVELS: got 'hikari:loud'; expected logger=LEVEL pairs")


def test_log_file_rotates(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "hanabi.log"
    configure_logging("INFO", log_file, [], stream=io.StringIO())
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, logging.handlers.RotatingFileHandler))
    assert (handler.maxBytes, handler.backupCount) == (10_000_000, 5)
    handler.maxBytes = 200  # rotate quickly
    for index in range(10):
        logging.getLogger("hanabi.ops.test").info("line %d %s", index, "x" * 50)
    assert (tmp_path / "logs" / "hanabi.log.1").exists()


@pytest.mark.asyncio
async def test_the_process_logs_json_lines_with_one_line_per_command(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path
) -> None:
    env = {
        "DISCORD_TOKEN": fake.token,
        "DISCORD_REST_URL": fake.rest_url,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path),
        "LOG_FORMAT": "json",
        "LOG_LEVELS": "hanabi.commands=INFO,hikari=WARNING",
    }
    bot = await start_bot_process(env, cwd=tmp_path)
    try:
        await bot.wait_for_line("online as")
        await fake.slash("ping", guild=guild)
        await bot.wait_for_line('"command": "ping"')
    finally:
        code = await bot.terminate(timeout=10)
    assert code == 0, bot.text
    entries = [json.loads(line) for line in bot.output if line.strip()]
    commands = [entry for entry in entries if entry["logger"] == "hanabi.commands"]
    assert len(commands) == 1
    assert commands[0]["outcome"] == "success"
    assert commands[0]["guild_id"] == guild.id
    assert isinstance(commands[0]["duration_ms"], float)
    assert fake.token not in bot.text
