"""The dashboard over HTTP (aiohttp's test client): headers, the OAuth state check, the login rate limit,
cookies, CSRF, permission checks and the change log."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient

from hanabi.web.app import DashboardOptions
from tests.harness.clock import ManualClock
from tests.harness.discord import FakeDiscord, FakeGuild, FakeMember
from tests.harness.payloads import Perm
from tests.web.conftest import Web, http_login

pytestmark = pytest.mark.asyncio


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def test_security_headers_on_every_page(client: TestClient, web: Web) -> None:  # type: ignore[type-arg]
    for path in ("/", "/leaderboard", "/servers/1/settings", "/nope"):
        response = await client.get(path, allow_redirects=False)
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        assert "default-src 'none'" in csp
        assert "script-src 'self'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cache-Control"] == "no-store"
    static = await client.get("/static/app.css")
    assert static.status == 200
    assert "frame-ancestors 'none'" in static.headers["Content-Security-Policy"]


async def test_login_checks_the_oauth_state(client: TestClient, fake: FakeDiscord) -> None:  # type: ignore[type-arg]
    # No session at all: refused.
    bare = await client.get("/callback?code=abc&state=xyz", allow_redirects=False)
    assert bare.status == 400
    # A session that started a login, but a state that is not its own: refused, and the state is used up.
    start = await client.get("/login", allow_redirects=False)
    assert start.status == 303
    assert start.headers["Location"].startswith(f"{fake.base_url}/oauth2/authorize?")
    assert "scope=identify+guilds" in start.headers["Location"]
    forged = await client.get("/callback?code=abc&state=forged", allow_redirects=False)
    assert forged.status == 400
    assert "state mismatch" in await forged.text()
    assert not fake.oauth.tokens, "no code may be exchanged after a bad state"


async def test_session_cookie_and_token_stay_on_the_server(
    client: TestClient,
    fake: FakeDiscord,
    guild: FakeGuild,  # type: ignore[type-arg]
) -> None:
    fake.oauth.login_as(fake.owner_id)
    start = await client.get("/login", allow_redirects=False)
    cookie = start.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # DASHBOARD_URL is http://127.0.0.1: the one exception
    await http_login(client, fake, fake.owner_id)
    token = next(iter(fake.oauth.tokens))
    page = await client.get("/servers")
    assert page.status == 200
    text = await page.text()
    assert guild.name in text
    assert token not in text
    for value in client.session.cookie_jar:
        assert token not in value.value


@pytest.mark.filterwarnings("ignore::pytest.PytestWarning")
def test_cookie_is_secure_except_on_plain_http_loopback() -> None:
    def options(url: str) -> DashboardOptions:
        return DashboardOptions(dashboard_url=url, oauth_url="https://discord.com", client_id=1)

    assert options("https://hanabi.example.com").cookie_secure
    assert options("https://hanabi.example.com").cookie_name == "__Host-hanabi_session"
    assert options("http://hanabi.example.com").cookie_secure
    assert not options("http://127.0.0.1:8080").cookie_secure
    assert not options("http://localhost:8080").cookie_secure


async def test_login_is_rate_limited(client: TestClient, web: Web) -> None:  # type: ignore[type-arg]
    limit = web.dashboard.options.login_limit
    for _ in range(limit):
        assert (await client.get("/login", allow_redirects=False)).status == 303
    refused = await client.get("/login", allow_redirects=False)
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert (await client.get("/callback?code=a&state=b", allow_redirects=False)).status == 429


async def test_forms_need_the_csrf_token(
    client: TestClient,
    fake: FakeDiscord,
    guild: FakeGuild,
    web: Web,  # type: ignore[type-arg]
) -> None:
    await http_login(client, fake, fake.owner_id)
    page = await client.get(f"/servers/{guild.id}/settings")
    token = _csrf(await page.text())
    url = f"/servers/{guild.id}/settings"
    form = {"prefix": "?", "timezone": "UTC", "locale": "en-US"}
    assert (await client.post(url, data=form, allow_redirects=False)).status == 403
    assert (await client.post(url, data={**form, "csrf_token": "0" * 64}, allow_redirects=False)).status == 403
    other_site = await client.post(
        url, data={**form, "csrf_token": token}, headers={"Origin": "https://evil.example"}, allow_redirects=False
    )
    assert other_site.status == 403
    services = web.dashboard.services
    assert (await services.guild_settings.get(guild.id)).prefix == "!"
    ok = await client.post(url, data={**form, "csrf_token": token}, allow_redirects=False)
    assert ok.status == 303
    assert (await services.guild_settings.get(guild.id)).prefix == "?"
    changes = await services.repository.changes(guild.id)
    assert changes[0].user_id == fake.owner_id
    assert "prefix → ?" in changes[0].detail


async def test_manage_server_is_required_and_rechecked(
    client: TestClient,
    fake: FakeDiscord,
    guild: FakeGuild,
    alice: FakeMember,
    clock: ManualClock,
    web: Web,  # type: ignore[type-arg]
) -> None:
    # Without Manage Server: the server is not offered and its pages are refused.
    await http_login(client, fake, alice)
    assert guild.name not in await (await client.get("/servers")).text()
    refused = await client.get(f"/servers/{guild.id}/settings")
    assert refused.status == 403
    assert "Manage Server" in await refused.text()

    # With it through a role: allowed; once the role is gone, refused as soon as the cached answer (60 s) expires.
    managers = guild.add_role("Managers", permissions=Perm.MANAGE_GUILD)
    member = guild.add_member("carol", roles=[managers])
    client.session.cookie_jar.clear()
    await http_login(client, fake, member)
    page = await client.get(f"/servers/{guild.id}/settings")
    assert page.status == 200
    token = _csrf(await page.text())
    member.roles.clear()
    clock.advance(seconds=61)
    calls = fake.oauth.guild_calls
    post = await client.post(
        f"/servers/{guild.id}/settings",
        data={"prefix": "?", "timezone": "UTC", "locale": "en-US", "csrf_token": token},
        allow_redirects=False,
    )
    assert post.status == 403
    assert fake.oauth.guild_calls == calls + 1
    assert (await web.dashboard.services.guild_settings.get(guild.id)).prefix == "!"


async def test_servers_without_the_bot_offer_an_invite(
    client: TestClient,
    fake: FakeDiscord,  # type: ignore[type-arg]
) -> None:
    fake.oauth.extra_guilds[fake.owner_id] = [
        {"id": "123456789012345678", "name": "Elsewhere", "owner": True, "permissions": str(Perm.ADMINISTRATOR)}
    ]
    await http_login(client, fake, fake.owner_id)
    text = await (await client.get("/servers")).text()
    assert "Elsewhere" in text
    assert "guild_id=123456789012345678" in text
    assert "scope=bot+applications.commands" in text


async def test_public_leaderboards(
    client: TestClient,
    fake: FakeDiscord,
    guild: FakeGuild,
    web: Web,  # type: ignore[type-arg]
) -> None:
    assert (await client.get("/leaderboard")).status == 200
    assert (await client.get(f"/leaderboard/{guild.id}")).status == 404
    await web.dashboard.services.repository.set_public_leaderboard(guild.id, True)
    assert (await client.get(f"/leaderboard/{guild.id}")).status == 200
