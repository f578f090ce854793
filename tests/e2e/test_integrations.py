"""/weather, /translate, the Translate menu command and /wiki, end to end against fake upstream APIs."""

from __future__ import annotations

import inspect
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from tests.harness.bot import RunningBot, running_bot
from tests.harness.clock import ManualClock
from tests.harness.discord import FakeDiscord, FakeGuild, FakeMember, Reply
from tests.harness.upstreams import FakeUpstreams

NOT_ANSWERING = "weather service is not answering right now, try again in a minute"


@pytest_asyncio.fixture
async def upstreams() -> AsyncIterator[FakeUpstreams]:
    fakes = FakeUpstreams()
    await fakes.start()
    try:
        yield fakes
    finally:
        await fakes.stop()


@pytest_asyncio.fixture
async def bot(
    fake: FakeDiscord, database_url: str, tmp_path: Path, clock: ManualClock, upstreams: FakeUpstreams
) -> AsyncIterator[RunningBot]:
    async with running_bot(fake, database_url, tmp_path, overrides={"clock": clock}, **upstreams.settings()) as bot:
        yield bot


def member(guild: FakeGuild, name: str) -> FakeMember:
    return next(m for m in guild.members.values() if m.username == name)


def fields(reply: Reply) -> dict[str, str]:
    (embed,) = reply.embeds
    return {str(f["name"]): str(f["value"]) for f in embed.get("fields", [])}


def later(clock: ManualClock) -> None:
    """A user's next command comes a little later: past every per-user cooldown."""
    clock.advance(seconds=11)


# --- /weather ----------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_weather_shows_current_conditions_and_three_days(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, upstreams: FakeUpstreams
) -> None:
    reply = await fake.slash("weather", {"location": "Reykjavik", "units": "imperial"}, guild=guild)
    assert reply.deferred
    (embed,) = reply.embeds
    assert embed["title"] == "☁️ Reykjavík, Capital Region, Iceland"
    assert embed["description"] == "**Overcast**"
    values = fields(reply)
    assert values["Temperature"] == "43.3 °F · 6.3 °C"  # the chosen unit first
    assert values["Feels like"] == "37.6 °F · 3.1 °C"
    assert values["Humidity"] == "81%"
    assert values["Wind"].startswith("9 mph SW")
    days = values["Next 3 days"].splitlines()
    assert len(days) == 3
    assert "Light rain" in days[1]
    assert "💧 85%" in days[1]
    assert upstreams.calls["geocoding"] == 1
    assert upstreams.calls["forecast"] == 1
    forecast_query = next(path for group, path, *_ in upstreams.requests if group == "forecast")
    assert "latitude=64.1355" in forecast_query
    assert "forecast_days=3" in forecast_query


@pytest.mark.asyncio
async def test_ambiguous_place_offers_a_select_menu_of_top_matches(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, upstreams: FakeUpstreams, clock: ManualClock
) -> None:
    alice = member(guild, "alice")
    reply = await fake.slash("weather", {"location": "Paris"}, user=alice)
    assert "Several places are called **Paris**" in (reply.content or "")
    (select_id,) = reply.custom_ids
    options = reply.component(select_id)["options"]
    assert [o["label"] for o in options] == ["Paris"] * 4
    assert options[1]["description"].startswith("Texas, United States")

    # Someone else cannot choose for alice.
    bob_try = await fake.select(reply, select_id, ["1"], user=member(guild, "bob"))
    assert bob_try.ephemeral
    assert "Only the person who ran this command" in (bob_try.content or "")

    chosen = await fake.select(reply, select_id, ["1"], user=alice)
    assert chosen.embeds[0]["title"] == "☁️ Paris, Texas, United States"
    assert chosen.components == []
    assert fields(chosen)["Temperature"] == "6.3 °C · 43.3 °F"  # metric by default

    # Naming the region picks the place at once.
    later(clock)
    direct = await fake.slash("weather", {"location": "Paris, Texas"}, user=alice)
    assert direct.embeds[0]["title"] == "☁️ Paris, Texas, United States"


@pytest.mark.asyncio
async def test_second_identical_request_is_served_from_cache(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, upstreams: FakeUpstreams, clock: ManualClock
) -> None:
    first = await fake.slash("weather", {"location": "Reykjavik"}, guild=guild)
    later(clock)
    second = await fake.slash("weather", {"location": "  reykjavik "}, guild=guild)
    assert first.embeds[0]["title"] == second.embeds[0]["title"]
    assert upstreams.calls["geocoding"] == 1
    assert upstreams.calls["forecast"] == 1
    metrics = bot.app.metrics.render().decode()
    assert 'hanabi_upstream_cache_total{kind="weather",result="hit"} 1.0' in metrics
    assert 'hanabi_upstream_requests_total{outcome="ok",upstream="weather"} 2.0' in metrics

    # Weather is cached for 10 minutes; after that the forecast is asked again (the place stays cached).
    clock.advance(minutes=11)
    await fake.slash("weather", {"location": "Reykjavik"}, guild=guild)
    assert upstreams.calls["geocoding"] == 1
    assert upstreams.calls["forecast"] == 2


@pytest.mark.asyncio
async def test_a_500_then_200_succeeds_after_a_retry(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, upstreams: FakeUpstreams
) -> None:
    upstreams.fail_next("forecast", 1, status=503, retry_after="0")
    reply = await fake.slash("weather", {"location": "Reykjavik"}, guild=guild)
    assert reply.embeds[0]["title"].endswith("Reykjavík, Capital Region, Iceland")
    assert upstreams.calls["forecast"] == 2
    assert 'hanabi_upstream_requests_total{outcome="retry",upstream="weather"} 1.0' in bot.app.metrics.render().decode()


@pytest.mark.asyncio
async def test_a_hanging_upstream_times_out_with_a_clear_message(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path, upstreams: FakeUpstreams
) -> None:
    settings = upstreams.settings() | {"upstream_total_timeout": 0.5}
    async with running_bot(fake, database_url, tmp_path, **settings):
        upstreams.hang("geocoding")
        started = time.monotonic()
        reply = await fake.slash("weather", {"location": "Reykjavik"}, guild=guild, timeout=4)
        elapsed = time.monotonic() - started
        assert NOT_ANSWERING in reply.text
        assert elapsed < 2.5  # one 0.5 s timeout, not retried, well inside the deadline
        assert upstreams.calls["geocoding"] == 1
        upstreams.recover()


@pytest.mark.asyncio
async def test_breaker_opens_after_repeated_failures_and_closes_after_cooling(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path, upstreams: FakeUpstreams, clock: ManualClock
) -> None:
    settings = upstreams.settings() | {"upstream_breaker_failures": 2, "upstream_breaker_cooldown": 60}
    async with running_bot(fake, database_url, tmp_path, overrides={"clock": clock}, **settings):
        upstreams.fail_next("geocoding", 100, status=500)
        for _ in range(2):
            reply = await fake.slash("weather", {"location": "Reykjavik"}, guild=guild)
            assert NOT_ANSWERING in reply.text
            later(clock)
        assert upstreams.calls["geocoding"] == 6  # two calls, each tried three times

        # Open: answered at once, without asking the upstream.
        reply = await fake.slash("weather", {"location": "Reykjavik"}, guild=guild)
        assert NOT_ANSWERING in reply.text
        assert upstreams.calls["geocoding"] == 6

        # After the cooling period one trial call goes through; it succeeds and closes the breaker.
        upstreams.recover()
        clock.advance(seconds=61)
        reply = await fake.slash("weather", {"location": "Reykjavik"}, guild=guild)
        assert reply.embeds
        assert upstreams.calls["geocoding"] == 7
        later(clock)
        reply = await fake.slash("weather", {"location": "Paris, France"}, guild=guild)
        assert reply.embeds[0]["title"] == "☁️ Paris, Île-de-France, France"


@pytest.mark.asyncio
async def test_unknown_place_and_malformed_json_get_clear_messages(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, upstreams: FakeUpstreams, clock: ManualClock
) -> None:
    reply = await fake.slash("weather", {"location": "Qwxyzzy"}, guild=guild)
    assert "could not find a place called **Qwxyzzy**" in reply.text
    assert not reply.embeds

    later(clock)
    upstreams.malformed_next("geocoding")
    reply = await fake.slash("weather", {"location": "Reykjavik"}, guild=guild)
    assert "weather service sent an answer I could not read" in reply.text
    assert "Traceback" not in reply.text
    assert "error id" not in reply.text
    assert upstreams.calls["geocoding"] == 2  # a malformed answer is not retried


@pytest.mark.asyncio
async def test_per_user_cooldown(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, upstreams: FakeUpstreams
) -> None:
    alice = member(guild, "alice")
    await fake.slash("weather", {"location": "Reykjavik"}, user=alice)
    again = await fake.slash("weather", {"location": "Reykjavik"}, user=alice)
    assert again.ephemeral
    assert "a little fast" in (again.content or "")
    other = await fake.slash("weather", {"location": "Reykjavik"}, user=member(guild, "bob"))
    assert other.embeds


# --- translation -------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_translate_detects_the_source_and_accepts_language_names(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, upstreams: FakeUpstreams
) -> None:
    reply = await fake.slash("translate", {"text": "Bonjour tout le monde", "to": "german"}, guild=guild)
    assert reply.deferred
    (embed,) = reply.embeds
    assert embed["description"] == "Hallo zusammen"
    assert embed["author"]["name"] == "French (detected) → German"
    translate_request = next(body for group, _, _, body in upstreams.requests if group == "translate")
    assert translate_request == {
        "q": "Bonjour tout le monde",
        "source": "auto",
        "target": "de",
        "format": "text",
        "api_key": "libre-test-key",
    }


@pytest.mark.asyncio
async def test_translate_language_autocomplete(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, upstreams: FakeUpstreams
) -> None:
    choices = await fake.autocomplete("translate", {"text": "hi", "to": "ger"}, "to", guild=guild)
    assert choices == [{"name": "German (de)", "value": "de"}]
    by_code = await fake.autocomplete("translate", {"text": "hi", "to": "j"}, "to", guild=guild)
    assert {"name": "Japanese (ja)", "value": "ja"} in by_code
    assert upstreams.calls["languages"] == 1  # the language list is cached


@pytest.mark.asyncio
async def test_translate_menu_command_answers_ephemerally_in_the_callers_locale(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, upstreams: FakeUpstreams
) -> None:
    message = await fake.say("Hello, world!", author=member(guild, "bob"))
    reply = await fake.message_command("Translate", message, user=member(guild, "alice"), locale="de")
    assert reply.ephemeral
    (embed,) = reply.embeds
    assert embed["description"] == "Hallo, Welt!"
    assert embed["author"]["name"] == "English (detected) → German"
    assert message["id"] in fields(reply)["Original"]

    # Over the length limit: refused before anything is sent upstream.
    calls = upstreams.calls["translate"]
    long_message = await fake.say("a" * 2500, author=member(guild, "bob"))
    reply = await fake.message_command("Translate", long_message, user=member(guild, "bob"), locale="fr")
    assert reply.ephemeral
    assert "2,500 characters long; I translate up to 2,000" in (reply.content or "")
    assert upstreams.calls["translate"] == calls


@pytest.mark.asyncio
async def test_daily_translation_quota_per_server_is_counted_in_postgres(
    fake: FakeDiscord,
    guild: FakeGuild,
    database_url: str,
    tmp_path: Path,
    upstreams: FakeUpstreams,
    clock: ManualClock,
) -> None:
    settings = upstreams.settings() | {"translate_daily_quota": 1}
    async with running_bot(fake, database_url, tmp_path, overrides={"clock": clock}, **settings):
        ok = await fake.slash("translate", {"text": "Hello, world!", "to": "fr"}, guild=guild)
        assert ok.embeds[0]["description"] == "Bonjour le monde !"
        later(clock)
        refused = await fake.slash("translate", {"text": "Good morning, everyone", "to": "de"}, guild=guild)
        assert "This server used all 1 translations for today." in refused.text
        later(clock)
        cached = await fake.slash("translate", {"text": "Hello, world!", "to": "fr"}, guild=guild)
        assert cached.embeds  # a cached translation costs nothing
    conn = await asyncpg.connect(database_url)
    try:
        used = await conn.fetchval("SELECT used FROM translation_usage WHERE scope = $1", f"guild:{guild.id}")
    finally:
        await conn.close()
    assert used == 1


@pytest.mark.asyncio
async def test_deepl_takes_over_when_libretranslate_fails(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path, upstreams: FakeUpstreams
) -> None:
    async with running_bot(fake, database_url, tmp_path, **upstreams.settings(deepl=True)):
        upstreams.fail_next("translate", 3, status=502)
        reply = await fake.slash("translate", {"text": "Hello, world!", "to": "Ukrainian"}, guild=guild)
        assert reply.embeds[0]["description"] == "[DeepL UK] Hello, world!"  # only DeepL offers Ukrainian
        reply = await fake.slash("translate", {"text": "Hello again", "to": "de"}, user=member(guild, "bob"))
        assert reply.embeds[0]["description"] == "[DeepL DE] Hello again"
        assert reply.embeds[0]["footer"]["text"] == "Translated by DeepL"
        auth = [headers.get("Authorization") for group, _, headers, _ in upstreams.requests if group == "deepl"]
        assert auth
        assert all(value == "DeepL-Auth-Key deepl-test-key:fx" for value in auth)


# --- /wiki -------------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_wiki_summary_embed_in_the_callers_language(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, upstreams: FakeUpstreams, clock: ManualClock
) -> None:
    reply = await fake.slash("wiki", {"query": "Ada Lovelace"}, guild=guild)
    assert reply.deferred
    (embed,) = reply.embeds
    assert embed["title"] == "Ada Lovelace"
    assert embed["url"] == "https://en.wikipedia.org/wiki/Ada_Lovelace"
    assert embed["description"].startswith("Augusta Ada King, Countess of Lovelace")
    assert embed["thumbnail"]["url"].startswith("https://upload.wikimedia.org/")
    assert embed["footer"]["text"].startswith("Wikipedia (en)")

    # The language defaults to the caller's Discord locale.
    later(clock)
    reply = await fake.slash("wiki", {"query": "Ada Lovelace"}, guild=guild, locale="de")
    assert reply.embeds[0]["footer"]["text"].startswith("Wikipedia (de)")
    assert any(path.startswith("/wiki/de/") for group, path, *_ in upstreams.requests if group == "wiki_search")
    later(clock)
    reply = await fake.slash("wiki", {"query": "no such thing at all"}, guild=guild, locale="de")
    assert "Wikipedia (de) has no article matching" in reply.text


@pytest.mark.asyncio
async def test_wiki_several_hits_offer_a_select_menu(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, upstreams: FakeUpstreams
) -> None:
    reply = await fake.slash("wiki", {"query": "lovelace"}, guild=guild)
    assert "Several articles match" in (reply.content or "")
    (select_id,) = reply.custom_ids
    labels = [o["label"] for o in reply.component(select_id)["options"]]
    assert labels == ["Ada Lovelace", "Lovelace (film)", "Linda Lovelace"]
    chosen = await fake.select(reply, select_id, ["0"])
    assert chosen.embeds[0]["title"] == "Ada Lovelace"
    assert upstreams.calls["wiki_summary"] == 1


@pytest.mark.asyncio
async def test_wiki_disambiguation_page_offers_a_select_menu(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    reply = await fake.slash("wiki", {"query": "Mercury"}, guild=guild)
    assert "**Mercury** may mean several things" in (reply.content or "")
    (select_id,) = reply.custom_ids
    options: list[dict[str, Any]] = reply.component(select_id)["options"]
    labels = [o["label"] for o in options]
    assert labels == ["Mercury (planet)", "Mercury (element)", "Mercury (mythology)", "Freddie Mercury"]
    chosen = await fake.select(reply, select_id, ["0"])
    assert chosen.embeds[0]["title"] == "Mercury (planet)"
    assert chosen.embeds[0]["url"] == "https://en.wikipedia.org/wiki/Mercury_(planet)"


# --- Redis -------------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_redis_cache_is_shared_by_two_bot_instances(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path, upstreams: FakeUpstreams, redis_url: str
) -> None:
    place = f"Testville {uuid.uuid4().hex[:10]}"  # keys no earlier run can have cached
    settings = upstreams.settings() | {"redis_url": redis_url}
    async with running_bot(fake, database_url, tmp_path / "one", **settings) as first:
        cache: Any = first.container.integrations_cache()
        if inspect.isawaitable(cache):  # it depends on an async resource
            cache = await cache
        assert cache.kind == "redis"
        reply = await fake.slash("weather", {"location": place}, guild=guild)
        assert reply.embeds[0]["title"].endswith(f"{place}, Test Region, Testland")
    async with running_bot(fake, database_url, tmp_path / "two", **settings):
        reply = await fake.slash("weather", {"location": place}, guild=guild)
        assert reply.embeds[0]["title"].endswith(f"{place}, Test Region, Testland")
    assert upstreams.calls["geocoding"] == 1
    assert upstreams.calls["forecast"] == 1
