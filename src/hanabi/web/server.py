"""Build the dashboard from the container and serve it: inside the bot process or standalone."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hanabi.clients.discord import BotDirectory, DiscordOAuth
from hanabi.config import Settings
from hanabi.web.app import Dashboard, DashboardOptions
from hanabi.web.sessions import SessionManager
from hanabi.wiring import resolve

if TYPE_CHECKING:
    from container import Container

log = logging.getLogger(__name__)


def build_dashboard(settings: Settings, *, services: Any, store: Any, http: Any, clock: Any) -> Dashboard:
    """The container's factory for the dashboard (only called when `settings.dashboard_enabled`)."""
    if not settings.dashboard_enabled or settings.dashboard_url is None:
        raise RuntimeError(
            "the dashboard needs DISCORD_CLIENT_ID, DISCORD_CLIENT_SECRET, DASHBOARD_URL, SESSION_SECRET"
        )
    if settings.discord_client_id is None or settings.discord_client_secret is None or settings.session_secret is None:
        raise RuntimeError("dashboard settings incomplete")
    options = DashboardOptions(
        dashboard_url=settings.dashboard_url,
        oauth_url=settings.discord_oauth_url,
        client_id=settings.discord_client_id,
    )
    oauth = DiscordOAuth(
        http,
        oauth_url=settings.discord_oauth_url,
        client_id=settings.discord_client_id,
        client_secret=settings.discord_client_secret.get_secret_value(),
        redirect_uri=f"{settings.dashboard_url}/callback",
    )
    bot = BotDirectory(
        http, rest_url=settings.discord_rest_url, token=settings.discord_token.get_secret_value(), clock=clock
    )
    sessions = SessionManager(store, settings.session_secret.get_secret_value(), clock)
    return Dashboard(options=options, services=services, sessions=sessions, oauth=oauth, bot=bot, clock=clock)


class DashboardServer:
    def __init__(self, dashboard: Dashboard, host: str, port: int) -> None:
        self.dashboard = dashboard
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.dashboard.make_app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        addresses = self._runner.addresses
        self.bound_port = int(addresses[0][1]) if addresses else self._port
        log.info(
            "web dashboard on http://%s:%s (public URL %s)",
            self._host,
            self.bound_port,
            self.dashboard.options.dashboard_url,
        )

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def start_dashboard(container: Container, settings: Settings) -> DashboardServer:
    dashboard = await resolve(container.dashboard)
    server = DashboardServer(dashboard, settings.web_host, settings.web_port)
    await server.start()
    return server
