"""`python -m hanabi.web`: the dashboard alone (for a separate Deployment), on the same container and services.

Changes it makes reach the bot processes through the event bus, so run it with the bots' REDIS_URL.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from hanabi.cli import EXIT_CONFIG, EXIT_OK, configure_logging_from, settings_or_exit
from hanabi.config import Settings

log = logging.getLogger("hanabi.web")


async def run(settings: Settings) -> int:
    from container import Container
    from hanabi.web.server import start_dashboard

    container = Container(settings=settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = None
    try:
        server = await start_dashboard(container, settings)
        if settings.redis_url is None:
            log.warning("no REDIS_URL: changes reach bot processes only when their caches expire (5 minutes)")
        await stop.wait()
        log.info("shutting down")
    finally:
        if server is not None:
            await server.stop()
        result = container.shutdown_resources()
        if result is not None:
            await result
    return EXIT_OK


def main() -> None:
    settings = settings_or_exit()
    if not settings.dashboard_enabled:
        print(
            "The dashboard is off: set DISCORD_CLIENT_ID, DISCORD_CLIENT_SECRET, DASHBOARD_URL and SESSION_SECRET.",
            file=sys.stderr,
        )
        sys.exit(EXIT_CONFIG)
    configure_logging_from(settings)
    sys.exit(asyncio.run(run(settings)))


if __name__ == "__main__":
    main()
