"""/weather, /translate, the "Translate" message menu command, and /wiki: upstream APIs rendered as embeds.

Every command validates its input and applies the cooldown before deferring (so refusals are ephemeral), then
defers and edits the answer in. Choices (several places, several articles, a disambiguation page) are a select
menu in a short-lived miru view that only the caller may use.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import Any

import hikari
import lightbulb
import miru
from lightbulb.internal.constants import INITIAL_RESPONSE_IDENTIFIER

from hanabi.clients.translate import Translation
from hanabi.clients.weather import Place
from hanabi.clients.wiki import Summary
from hanabi.errors import DomainError
from hanabi.services.integrations import (
    MAX_TRANSLATE_CHARS,
    TranslationService,
    WeatherReport,
    WeatherService,
    WikiLookup,
    WikiService,
    celsius_to_fahrenheit,
    kmh_to_mph,
    wiki_language_for_locale,
)
from hanabi.ui import BRAND_COLOUR

log = logging.getLogger(__name__)

loader = lightbulb.Loader()

NO_MENTIONS: dict[str, Any] = {"user_mentions": False, "role_mentions": False, "mentions_everyone": False}
VIEW_TIMEOUT = 120
WEATHER_COLOUR = 0x4A90D9
WIKI_COLOUR = 0xF8F9FA
EXTRACT_LIMIT = 1500

# --- rendering -------------------------------------------------------------------------------------------------------

# WMO weather interpretation codes, as Open-Meteo documents them.
WEATHER_CODES: dict[int, tuple[str, str]] = {
    0: ("☀️", "Clear sky"),
    1: ("🌤️", "Mainly clear"),
    2: ("⛅", "Partly cloudy"),
    3: ("☁️", "Overcast"),
    45: ("🌫️", "Fog"),
    48: ("🌫️", "Freezing fog"),
    51: ("🌦️", "Light drizzle"),
    53: ("🌦️", "Drizzle"),
    55: ("🌦️", "Dense drizzle"),
    56: ("🌧️", "Freezing drizzle"),
    57: ("🌧️", "Dense freezing drizzle"),
    61: ("🌧️", "Light rain"),
    63: ("🌧️", "Rain"),
    65: ("🌧️", "Heavy rain"),
    66: ("🌧️", "Freezing rain"),
    67: ("🌧️", "Heavy freezing rain"),
    71: ("🌨️", "Light snow"),
    73: ("🌨️", "Snow"),
    75: ("❄️", "Heavy snow"),
    77: ("🌨️", "Snow grains"),
    80: ("🌦️", "Light showers"),
    81: ("🌦️", "Showers"),
    82: ("⛈️", "Violent showers"),
    85: ("🌨️", "Snow showers"),
    86: ("❄️", "Heavy snow showers"),
    95: ("⛈️", "Thunderstorm"),
    96: ("⛈️", "Thunderstorm with hail"),
    99: ("⛈️", "Thunderstorm with heavy hail"),
}
COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def describe_code(code: int, *, is_day: bool = True) -> tuple[str, str]:
    emoji, text = WEATHER_CODES.get(code, ("🌡️", f"Weather code {code}"))
    if code in (0, 1) and not is_day:
        emoji = "🌙"
    return emoji, text


def temperature(celsius: float, units: str) -> str:
    c, f = f"{celsius:.1f} °C", f"{celsius_to_fahrenheit(celsius):.1f} °F"
    return f"{f} · {c}" if units == "imperial" else f"{c} · {f}"


def temperature_range(low: float, high: float, units: str) -> str:
    if units == "imperial":
        return f"{celsius_to_fahrenheit(low):.0f}–{celsius_to_fahrenheit(high):.0f} °F"
    return f"{low:.0f}–{high:.0f} °C"


def wind(kmh: float, direction: int | None, units: str) -> str:
    compass = f" {COMPASS[round(direction / 45) % 8]}" if direction is not None else ""
    if units == "imperial":
        return f"{kmh_to_mph(kmh):.0f} mph{compass} ({kmh:.0f} km/h)"
    return f"{kmh:.0f} km/h{compass} ({kmh_to_mph(kmh):.0f} mph)"


def weather_embed(report: WeatherReport, units: str) -> hikari.Embed:
    now = report.forecast.current
    emoji, text = describe_code(now.code, is_day=now.is_day)
    embed = hikari.Embed(title=f"{emoji} {report.place.label}", description=f"**{text}**", colour=WEATHER_COLOUR)
    embed.add_field("Temperature", temperature(now.temperature_c, units), inline=True)
    embed.add_field("Feels like", temperature(now.feels_like_c, units), inline=True)
    embed.add_field("Humidity", f"{now.humidity}%", inline=True)
    embed.add_field("Wind", wind(now.wind_kmh, now.wind_direction, units), inline=True)
    lines = []
    for day in report.forecast.days:
        day_emoji, day_text = describe_code(day.code)
        label = date.fromisoformat(day.date).strftime("%a %d %b")
        rain = f" · 💧 {day.precipitation_chance}%" if day.precipitation_chance is not None else ""
        lines.append(f"{day_emoji} **{label}**: {day_text}, {temperature_range(day.min_c, day.max_c, units)}{rain}")
    if lines:
        embed.add_field("Next 3 days", "\n".join(lines), inline=False)
    local = now.time.replace("T", " ")
    embed.set_footer(
        f"Open-Meteo · local time {local}" + (f" ({report.forecast.timezone})" if report.forecast.timezone else "")
    )
    return embed


def translation_embed(translation: Translation, names: dict[str, str], original_url: str | None = None) -> hikari.Embed:
    embed = hikari.Embed(description=translation.text[:4000], colour=BRAND_COLOUR)
    source = names.get(translation.source, translation.source)
    target = names.get(translation.target, translation.target)
    detected = " (detected)" if translation.detected else ""
    embed.set_author(name=f"{source}{detected} → {target}")
    if original_url:
        embed.add_field("Original", f"[Jump to the message]({original_url})", inline=False)
    embed.set_footer(f"Translated by {'DeepL' if translation.provider == 'deepl' else 'LibreTranslate'}")
    return embed


def wiki_embed(summary: Summary, language: str) -> hikari.Embed:
    extract = summary.extract.strip() or summary.description or "This article has no summary."
    if len(extract) > EXTRACT_LIMIT:
        extract = extract[: EXTRACT_LIMIT - 1].rsplit(" ", 1)[0] + "…"
    embed = hikari.Embed(title=summary.title[:256], url=summary.url, description=extract, colour=WIKI_COLOUR)
    if summary.description:
        embed.add_field("In short", summary.description[:1024], inline=False)
    if summary.thumbnail:
        embed.set_thumbnail(summary.thumbnail)
    embed.set_footer(f"Wikipedia ({language}) · CC BY-SA 4.0")
    return embed


def _label(text: str) -> str:
    return text if len(text) <= 100 else text[:99] + "…"


# --- choosers --------------------------------------------------------------------------------------------------------


class Chooser(miru.View):
    """A select menu of options for the caller only; `on_choose` renders the chosen one into the same message."""

    def __init__(
        self,
        owner_id: int,
        options: Sequence[tuple[str, str | None]],
        placeholder: str,
        on_choose: Callable[[miru.ViewContext, int], Awaitable[None]],
    ) -> None:
        super().__init__(timeout=VIEW_TIMEOUT)
        self.owner_id = owner_id
        self._on_choose = on_choose
        select = miru.TextSelect(
            options=[
                miru.SelectOption(label=_label(label), value=str(i), description=_label(detail) if detail else None)
                for i, (label, detail) in enumerate(options[:25])
            ],
            placeholder=placeholder,
        )
        select.callback = self._chosen  # type: ignore[method-assign]
        self.add_item(select)

    async def _chosen(self, ctx: miru.ViewContext) -> None:
        select = self.children[0]
        if not isinstance(select, miru.TextSelect) or not select.values:
            return
        await ctx.defer()
        self.stop()
        try:
            await self._on_choose(ctx, int(select.values[0]))
        except DomainError as exc:
            await ctx.edit_response(exc.user_message, embeds=[], components=[], **NO_MENTIONS)

    async def view_check(self, ctx: miru.ViewContext, /) -> bool:
        if ctx.user.id == self.owner_id:
            return True
        await ctx.respond(
            "Only the person who ran this command can choose here. Run the command yourself.",
            flags=hikari.MessageFlag.EPHEMERAL,
        )
        return False

    async def on_timeout(self) -> None:
        if self.message is not None:
            with contextlib.suppress(hikari.HTTPError):
                await self.message.edit(components=[])


async def _edit(ctx: lightbulb.Context, content: str | None = None, **kwargs: Any) -> None:
    await ctx.edit_response(INITIAL_RESPONSE_IDENTIFIER, content, **kwargs, **NO_MENTIONS)


# --- /weather --------------------------------------------------------------------------------------------------------


def place_options(places: Sequence[Place]) -> list[tuple[str, str | None]]:
    options = []
    for place in places:
        detail = ", ".join(x for x in (place.region, place.country) if x)
        if place.population:
            detail = f"{detail} · pop. {place.population:,}" if detail else f"pop. {place.population:,}"
        options.append((place.name, detail or None))
    return options


@loader.command
class Weather(lightbulb.SlashCommand, name="weather", description="Current weather and a 3-day forecast for a place"):
    location = lightbulb.string("location", "A city or place: Lisbon, or Paris, Texas", min_length=1, max_length=100)
    units = lightbulb.string(
        "units",
        "Which unit to show first (default °C)",
        choices=[lightbulb.Choice("°C, km/h (metric)", "metric"), lightbulb.Choice("°F, mph (imperial)", "imperial")],
        default="metric",
    )

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, weather: WeatherService, miru_client: miru.Client) -> None:
        location = weather.prepare(self.location, user_id=int(ctx.user.id))
        await ctx.defer()
        places = await weather.find_places(location)
        units = self.units
        if len(places) == 1:
            await _edit(ctx, embed=weather_embed(await weather.report(places[0]), units), components=[])
            return

        async def chosen(view_ctx: miru.ViewContext, index: int) -> None:
            report = await weather.report(places[index])
            await view_ctx.edit_response(None, embed=weather_embed(report, units), components=[], **NO_MENTIONS)

        view = Chooser(int(ctx.user.id), place_options(places), "Choose the place", chosen)
        await _edit(ctx, f"Several places are called **{location}**. Which one do you mean?", components=view)
        miru_client.start_view(view)


# --- /translate and the "Translate" menu command ---------------------------------------------------------------------


async def language_autocomplete(
    ctx: lightbulb.AutocompleteContext[str], translation: TranslationService = lightbulb.di.INJECTED
) -> None:
    typed = str(ctx.focused.value or "")
    try:
        languages = await translation.suggest(typed)
    except DomainError:
        languages = []
    await ctx.respond([(_label(f"{x.name} ({x.code})"), x.code) for x in languages])


async def _language_names(translation: TranslationService) -> dict[str, str]:
    return {x.code: x.name for x in await translation.languages()}


@loader.command
class Translate(lightbulb.SlashCommand, name="translate", description="Translate text into another language"):
    text = lightbulb.string("text", "What to translate (up to 2,000 characters)", max_length=MAX_TRANSLATE_CHARS)
    to = lightbulb.string("to", "Language to translate into: a name or code", autocomplete=language_autocomplete)
    source = lightbulb.string(
        "from", "Language of the text (detected when left out)", autocomplete=language_autocomplete, default=None
    )

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, translation: TranslationService) -> None:
        text = translation.prepare(self.text, user_id=int(ctx.user.id), command="translate")
        await ctx.defer()
        result = await translation.translate(
            text, self.to, self.source, user_id=int(ctx.user.id), guild_id=ctx.guild_id
        )
        await _edit(ctx, embed=translation_embed(result, await _language_names(translation)))


@loader.command
class TranslateMessage(lightbulb.MessageCommand, name="Translate"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, translation: TranslationService) -> None:
        message = self.target
        text = translation.prepare(message.content or "", user_id=int(ctx.user.id), command="Translate")
        await ctx.defer(ephemeral=True)
        target = await translation.language_for_locale(str(ctx.interaction.locale))
        result = await translation.translate(text, target.code, None, user_id=int(ctx.user.id), guild_id=ctx.guild_id)
        url = message.make_link(ctx.guild_id)
        await _edit(ctx, embed=translation_embed(result, await _language_names(translation), url))


# --- /wiki -----------------------------------------------------------------------------------------------------------


async def show_wiki(
    lookup: WikiLookup,
    wiki: WikiService,
    owner_id: int,
    miru_client: miru.Client,
    edit: Callable[..., Awaitable[Any]],
) -> None:
    """Render an article, or a chooser of titles whose choice is rendered the same way (recursively)."""
    if lookup.article is not None:
        await edit(None, embed=wiki_embed(lookup.article, lookup.language), components=[])
        return
    titles = list(lookup.choices)
    if not titles:
        await edit(
            f"**{lookup.disambiguation.title if lookup.disambiguation else 'That'}** has no articles to choose from."
        )
        return

    async def chosen(view_ctx: miru.ViewContext, index: int) -> None:
        following = await wiki.open(titles[index], lookup.language)

        async def edit_view(content: str | None = None, **kwargs: Any) -> None:
            await view_ctx.edit_response(content, **kwargs, **NO_MENTIONS)

        await show_wiki(following, wiki, owner_id, miru_client, edit_view)

    if lookup.disambiguation is not None:
        question = f"**{lookup.disambiguation.title}** may mean several things. Which one?"
    else:
        question = "Several articles match. Which one do you want?"
    view = Chooser(owner_id, [(t, None) for t in titles], "Choose an article", chosen)
    await edit(question, embeds=[], components=view)
    miru_client.start_view(view)


@loader.command
class Wiki(lightbulb.SlashCommand, name="wiki", description="Look something up on Wikipedia"):
    query = lightbulb.string("query", "What to look up", min_length=1, max_length=300)
    language = lightbulb.string(
        "language", "Wikipedia language code, e.g. en, de, ja (default: your Discord language)", default=None
    )

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, wiki: WikiService, miru_client: miru.Client) -> None:
        language = self.language or wiki_language_for_locale(str(ctx.interaction.locale))
        query, language = wiki.prepare(self.query, language, user_id=int(ctx.user.id))
        await ctx.defer()
        lookup = await wiki.lookup(query, language)

        async def edit(content: str | None = None, **kwargs: Any) -> None:
            await _edit(ctx, content, **kwargs)

        await show_wiki(lookup, wiki, int(ctx.user.id), miru_client, edit)
