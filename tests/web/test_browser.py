"""The dashboard in a real browser: Playwright driving Debian's headless Chromium against the running bot.

Screenshots land in docs/screenshots/ (shown in the README)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from hanabi.services.automod import Rule
from tests.harness.clock import ManualClock
from tests.harness.discord import FakeDiscord, FakeGuild, FakeMember
from tests.web.conftest import CHROMIUM_ARGS, SCREENSHOTS, Web, chromium_or_skip

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def page(web: Web) -> AsyncIterator[Any]:
    executable = chromium_or_skip()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1200, "height": 800}, accept_downloads=True)
        tab = await context.new_page()
        tab.set_default_timeout(10_000)
        try:
            yield tab
        finally:
            await context.close()
            await browser.close()


async def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def log_in(page: Any, web: Web, fake: FakeDiscord, user: FakeMember | int) -> None:
    fake.oauth.login_as(user)
    await page.goto(web.url + "/")
    await page.get_by_role("link", name="Log in with Discord").first.click()
    await page.wait_for_url(web.url + "/servers")


async def test_log_in_pick_a_server_and_change_the_prefix(
    page: Any, web: Web, fake: FakeDiscord, guild: FakeGuild
) -> None:
    await log_in(page, web, fake, fake.owner_id)
    await shot(page, "servers")
    await page.get_by_role("link", name=guild.name).click()
    await page.wait_for_url(f"{web.url}/servers/{guild.id}")
    await shot(page, "overview")
    await page.get_by_role("link", name="Settings", exact=True).click()
    await page.get_by_label("Text command prefix").fill("?")
    await page.get_by_role("button", name="Save settings").click()
    await page.get_by_role("status").filter(has_text="prefix → ?").wait_for()
    await shot(page, "settings")

    await fake.say("?ping")
    reply = await fake.wait_for_message(guild.default_channel, timeout=10)
    assert "Pong" in str(reply) or "latency" in str(reply).lower()
    await fake.say("!ping")  # the old prefix is ignored now
    with pytest.raises(TimeoutError):
        await fake.wait_for_message(guild.default_channel, timeout=1)


async def test_create_an_announcement_and_see_it_posted(
    page: Any, web: Web, fake: FakeDiscord, guild: FakeGuild, clock: ManualClock
) -> None:
    await log_in(page, web, fake, fake.owner_id)
    await page.goto(f"{web.url}/servers/{guild.id}/announcements")
    await page.get_by_label("Message").fill("Hello from the dashboard!")
    await page.get_by_label("Schedule").fill("every 1h")
    await page.get_by_role("button", name="Create announcement").click()
    await page.get_by_role("status").filter(has_text="created").wait_for()
    await shot(page, "announcements")
    clock.advance(hours=1, minutes=1)
    posted = await fake.wait_for_message(
        guild.default_channel, lambda m: "Hello from the dashboard!" in m.get("content", ""), timeout=10
    )
    assert posted["author"]["id"] == str(fake.bot_user_id)


async def test_a_member_without_manage_server_is_refused(
    page: Any, web: Web, fake: FakeDiscord, guild: FakeGuild, alice: FakeMember
) -> None:
    await log_in(page, web, fake, alice)
    assert await page.get_by_role("link", name=guild.name).count() == 0
    response = await page.goto(f"{web.url}/servers/{guild.id}/settings")
    assert response.status == 403
    await page.get_by_text("You need the Manage Server permission").wait_for()
    await shot(page, "refused")


async def test_a_forged_form_without_the_csrf_token_is_refused(
    page: Any, web: Web, fake: FakeDiscord, guild: FakeGuild
) -> None:
    await log_in(page, web, fake, fake.owner_id)
    # The browser's own cookies, but a form built elsewhere: no CSRF token.
    response = await page.request.post(
        f"{web.url}/servers/{guild.id}/settings", form={"prefix": "?", "timezone": "UTC", "locale": "en-US"}
    )
    assert response.status == 403
    assert (await web.dashboard.services.guild_settings.get(guild.id)).prefix == "!"


async def test_settings_as_code_round_trip(
    page: Any, web: Web, fake: FakeDiscord, guild: FakeGuild, tmp_path: Path
) -> None:
    await log_in(page, web, fake, fake.owner_id)
    await page.goto(f"{web.url}/servers/{guild.id}/config")
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download YAML").click()
    download = await download_info.value
    exported = tmp_path / "exported.yaml"
    await download.save_as(str(exported))
    document = yaml.safe_load(exported.read_text())
    assert document["settings"]["prefix"] == "!"

    document["settings"]["prefix"] = "$"
    document["automod"]["rules"]["flood"]["count"] = 8
    document["shop"].append({"name": "Blue role", "price": 250, "description": "Be blue", "role": None, "stock": 5})
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(document, sort_keys=False))
    await page.set_input_files("#file", str(edited))
    await page.get_by_role("button", name="Show changes").click()
    operations = page.locator("#operations")
    await operations.wait_for()
    text = await operations.inner_text()
    assert "prefix → $" in text
    assert "Shop: add Blue role" in text
    assert "count → 8" in text
    await shot(page, "settings-as-code")
    await page.get_by_role("button", name="Apply 3 changes").click()
    await page.get_by_role("status").filter(has_text="Applied 3 change(s)").wait_for()

    services = web.dashboard.services
    assert (await services.guild_settings.get(guild.id)).prefix == "$"
    assert (await services.moderation.config(guild.id)).rule(Rule.FLOOD).count == 8
    assert [item.name for item in await services.economy.items(guild.id)] == ["Blue role"]
    await fake.say("$ping")
    await fake.wait_for_message(guild.default_channel, timeout=10)
