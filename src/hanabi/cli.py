"""The bot process (`python -m hanabi`): Settings -> Container -> bot -> run until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from typing import TYPE_CHECKING

import hikari
from pydantic import SecretStr

from hanabi.config import Settings, SettingsError, load_settings
from hanabi.infra import gcstats
from hanabi.infra.logging import configure_logging

if TYPE_CHECKING:
    from hanabi.bot import Hanabi  # imported late in run(): hikari and the container load after settings

log = logging.getLogger("hanabi")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2


def _secrets(settings: Settings) -> list[str]:
    """Every SecretStr setting (token, URLs with passwords, API keys): redacted from all log records."""
    values = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            values.append(value.get_secret_value())
    values.extend(node.password for node in settings.lavalink_nodes if node.password)
    return values


async def run(settings: Settings) -> int:
    from container import Container
    from hanabi.bot import Hanabi, StartupError

    container = Container(settings=settings)
    app = Hanabi(settings, container)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    try:
        await app.start()
    except hikari.UnauthorizedError:
        print(
            "Discord rejected DISCORD_TOKEN (401 Unauthorized). Reset the token in the developer portal "
            "(Bot -> Reset Token) and update .env.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    except StartupError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:
        # Unexpected: one line for the operator; the traceback only with LOG_LEVEL=DEBUG.
        log.debug("startup failed", exc_info=exc)
        print(f"Could not start: {type(exc).__name__}: {exc}. Run with LOG_LEVEL=DEBUG for details.", file=sys.stderr)
        return EXIT_FAILURE

    gc.enable()  # off while the modules and extensions loaded (hanabi.__main__): now there is garbage to find
    tuning = asyncio.ensure_future(_tune_once_guilds_loaded(app)) if settings.gc_tuning else None
    bot_closed = asyncio.ensure_future(app.bot.join())
    stop_requested = asyncio.ensure_future(stop.wait())
    await asyncio.wait({bot_closed, stop_requested}, return_when=asyncio.FIRST_COMPLETED)
    log.info("shutting down")
    gcstats.write_stats()  # before close(): a bot stopped while still draining a backlog may be killed
    await app.close()
    for task in (bot_closed, stop_requested, tuning):
        if task is None:
            continue
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    log.info("bye")
    return EXIT_OK


async def _tune_once_guilds_loaded(app: Hanabi) -> None:
    # After the GUILD_CREATE burst, so the guild cache is frozen too and the payloads' garbage is gone.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(120):
            await app.wait_until_guilds_loaded()
    trimmed = gcstats.tune_after_startup()
    log.info(
        "startup settled: %d guilds cached, %d objects frozen out of the garbage collector, heap %s",
        len(app.bot.cache.get_guilds_view()),
        gc.get_freeze_count(),
        "trimmed" if trimmed else "not trimmed (no malloc_trim)",
    )


def configure_logging_from(settings: Settings) -> None:
    """Logging as the settings say, with every secret redacted (the bot's and the dashboard's processes)."""
    configure_logging(
        settings.log_level,
        settings.log_file,
        _secrets(settings),
        log_format=settings.log_format,
        levels=settings.log_levels,
    )


def settings_or_exit() -> Settings:
    """The settings, or exit 2 with the one-line message that says which is wrong (no traceback)."""
    try:
        return load_settings()
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(EXIT_CONFIG)


def main() -> None:
    settings = settings_or_exit()
    configure_logging_from(settings)
    gcstats.install_from_env()
    loop_factory = None
    if settings.uvloop and sys.platform != "win32":
        try:
            import uvloop  # a dependency except on Windows, which uvloop does not support
        except ImportError:
            print("uvloop is not installed (pip install uvloop); using asyncio's loop", file=sys.stderr)
        else:
            loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        code = runner.run(run(settings))
    sys.exit(code)
