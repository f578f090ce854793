"""Web dashboard fixtures: the real bot with its dashboard on a free port, logged in against the fake Discord."""

from __future__ import annotations

import os
import shutil
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from tests import services
from tests.e2e.conftest import alice, bob, clock, fake, guild  # noqa: F401  (shared fixtures)
from tests.harness.bot import RunningBot, free_port, running_bot
from tests.harness.clock import ManualClock
from tests.harness.discord import FakeDiscord, FakeMember

CHROMIUM = Path(os.environ.get("HANABI_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"
SESSION_SECRET = "test-session-secret-0123456789-abcdefghijklmnop"


@dataclass
class Web:
    bot: RunningBot
    url: str

    @property
    def dashboard(self):  # type: ignore[no-untyped-def]
        server = self.bot.app.dashboard_server
        assert server is not None
        return server.dashboard


@pytest_asyncio.fixture
async def web(fake: FakeDiscord, database_url: str, tmp_path: Path, clock: ManualClock) -> AsyncIterator[Web]:  # noqa: F811
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with running_bot(
        fake,
        database_url,
        tmp_path,
        overrides={"clock": clock},
        web_host="127.0.0.1",
        web_port=port,
        discord_client_id=fake.application_id,
        discord_client_secret=fake.oauth.client_secret,
        dashboard_url=url,
        session_secret=SESSION_SECRET,
        discord_oauth_url=fake.base_url,
    ) as running:
        yield Web(running, url)


@pytest_asyncio.fixture
async def client(web: Web) -> AsyncIterator[TestClient[aiohttp.web.Request, aiohttp.web.Application]]:
    """aiohttp's test client on the running dashboard's application (same services, sessions and limits)."""
    async with TestClient(TestServer(web.dashboard.make_app())) as test_client:
        yield test_client


async def http_login(client: TestClient, fake: FakeDiscord, user: FakeMember | int) -> None:  # type: ignore[type-arg]  # noqa: F811
    """The OAuth dance over HTTP: /login -> the fake's authorize page -> /callback."""
    fake.oauth.login_as(user)
    start = await client.get("/login", allow_redirects=False)
    assert start.status == 303, await start.text()
    async with aiohttp.ClientSession() as outside:
        authorize = await outside.get(start.headers["Location"], allow_redirects=False)
        assert authorize.status == 302
        back = urllib.parse.urlsplit(authorize.headers["Location"])
    done = await client.get(f"{back.path}?{back.query}", allow_redirects=False)
    assert done.status == 303, await done.text()
    assert done.headers["Location"] == "/servers"


def _browser_missing() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if CHROMIUM.exists() or shutil.which(str(CHROMIUM)):
        return None
    return f"no Chromium at {CHROMIUM} (apt-get install chromium)"


def chromium_or_skip() -> Path:
    """Debian's Chromium; missing: a failure under CI (`.ci/run` installs it), a skip elsewhere."""
    reason = _browser_missing()
    if reason is not None:
        services.missing(f"browser tests need a browser: {reason}")
    return CHROMIUM
