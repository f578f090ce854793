"""Weather, translation and Wikipedia: caching, cooldowns, quotas and input rules in front of the API clients.

Knows nothing of Discord beyond integer ids and locale strings; raises `DomainError`s whose message the user sees.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from hanabi.clients.http import UpstreamError, UpstreamRejected
from hanabi.clients.translate import Language, Translation, Translator
from hanabi.clients.weather import CurrentWeather, DailyForecast, Forecast, Place, WeatherClient
from hanabi.clients.wiki import SearchHit, Summary, WikiClient, valid_language
from hanabi.errors import CooldownActive, InvalidInput, NotFound, ServiceUnavailable
from hanabi.infra.cache import Cache
from hanabi.infra.clock import Clock
from hanabi.infra.metrics import Metrics
from hanabi.infra.quota import QuotaStore

log = logging.getLogger(__name__)

T = TypeVar("T")

# Time to live per kind of cached answer, in seconds.
TTL = {
    "weather": 10 * 60,
    "geocoding": 24 * 3600,
    "wiki": 24 * 3600,
    "translation": 24 * 3600,
    "languages": 24 * 3600,
}
MAX_TRANSLATE_CHARS = 2000
MAX_QUERY_CHARS = 100
PLACE_CHOICES = 5
WIKI_CHOICES = 10


def normalize(text: str) -> str:
    """Whitespace collapsed and case folded: `  New   York ` and `new york` share a cache entry."""
    return " ".join(text.split()).casefold()


class Cooldowns:
    """Per-user, per-command cooldowns on the injected Clock."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        self._seconds = seconds
        self._last: dict[tuple[str, int], float] = {}

    def hit(self, command: str, user_id: int) -> None:
        if self._seconds <= 0:
            return
        now = self._clock.monotonic()
        last = self._last.get((command, user_id))
        if last is not None and now - last < self._seconds:
            remaining = self._seconds - (now - last)
            raise CooldownActive(
                f"You are using /{command} a little fast.", until=self._clock.now().timestamp() + remaining
            )
        self._last[(command, user_id)] = now
        if len(self._last) > 10_000:  # forget users whose cooldown is long over
            self._last = {k: v for k, v in self._last.items() if now - v < self._seconds}


class CachedLookups:
    """Read-through cache of JSON-serialisable answers, with hit/miss metrics per kind."""

    def __init__(self, cache: Cache, metrics: Metrics) -> None:
        self._cache = cache
        self._metrics = metrics

    async def get_or_fetch(
        self,
        kind: str,
        key: str,
        fetch: Callable[[], Awaitable[T]],
        dump: Callable[[T], Any],
        load: Callable[[Any], T],
        *,
        store: Callable[[T], bool] = lambda _: True,
    ) -> T:
        full_key = f"{kind}:{key}"
        raw = await self._cache.get(full_key)
        if raw is not None:
            try:
                value = load(json.loads(raw))
            except (ValueError, TypeError, KeyError):
                log.warning("dropping an unreadable %s cache entry", kind)
            else:
                self._metrics.upstream_cache.labels(kind=kind, result="hit").inc()
                return value
        self._metrics.upstream_cache.labels(kind=kind, result="miss").inc()
        value = await fetch()
        if store(value):
            await self._cache.set(full_key, json.dumps(dump(value), ensure_ascii=False), TTL[kind])
        return value


# --- weather ---------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class WeatherReport:
    place: Place
    forecast: Forecast


def _place_from(data: dict[str, Any]) -> Place:
    return Place(**data)


def _forecast_from(data: dict[str, Any]) -> Forecast:
    return Forecast(
        current=CurrentWeather(**data["current"]),
        days=tuple(DailyForecast(**day) for day in data["days"]),
        timezone=data.get("timezone"),
    )


class WeatherService:
    def __init__(self, client: WeatherClient, lookups: CachedLookups, cooldowns: Cooldowns) -> None:
        self._client = client
        self._lookups = lookups
        self._cooldowns = cooldowns

    def prepare(self, location: str, *, user_id: int) -> str:
        """Check the input and the caller's cooldown before any slow work; returns the cleaned location."""
        text = " ".join(location.split())
        if not text or len(text) > MAX_QUERY_CHARS:
            raise InvalidInput(f"Give a place name of 1 to {MAX_QUERY_CHARS} characters, for example `Lisbon`.")
        self._cooldowns.hit("weather", user_id)
        return text

    async def find_places(self, location: str) -> list[Place]:
        """Matches for `location` (`Paris` or `Paris, Texas`), best first; NotFound when there are none."""
        text = " ".join(location.split())
        name, *qualifiers = [part.strip() for part in text.split(",") if part.strip()] or [text]
        places = await self._lookups.get_or_fetch(
            "geocoding",
            normalize(name),
            lambda: self._client.search(name, count=10),
            lambda found: [dataclasses.asdict(p) for p in found],
            lambda data: [_place_from(p) for p in data],
        )
        for qualifier in qualifiers:
            wanted = normalize(qualifier)
            places = [
                p
                for p in places
                if wanted == normalize(p.country_code or "")
                or any(wanted in normalize(v or "") for v in (p.region, p.country))
            ]
        if not places:
            raise NotFound(f"I could not find a place called **{text}**. Check the spelling, or add the country.")
        return places[:PLACE_CHOICES]

    async def report(self, place: Place) -> WeatherReport:
        forecast = await self._lookups.get_or_fetch(
            "weather",
            f"{place.latitude:.2f},{place.longitude:.2f}",
            lambda: self._client.forecast(place.latitude, place.longitude, days=3),
            dataclasses.asdict,
            _forecast_from,
        )
        return WeatherReport(place=place, forecast=forecast)


def celsius_to_fahrenheit(value: float) -> float:
    return value * 9 / 5 + 32


def kmh_to_mph(value: float) -> float:
    return value / 1.609344


# --- translation -----------------------------------------------------------------------------------------------------


class QuotaExceeded(CooldownActive):
    """The server used its translations for today; `until` is the next UTC midnight."""


# Discord locales whose language has a different code at translation providers.
_LOCALE_CANDIDATES = {
    "zh-cn": ("zh-hans", "zh"),
    "zh-tw": ("zh-hant", "zt", "zh"),
    "pt-br": ("pt-br", "pt"),
    "es-es": ("es",),
    "es-419": ("es",),
    "en-us": ("en-us", "en"),
    "en-gb": ("en-gb", "en"),
    "sv-se": ("sv",),
    "no": ("nb", "no"),
}


def locale_language_candidates(locale: str) -> tuple[str, ...]:
    code = locale.casefold().replace("_", "-")
    if code in _LOCALE_CANDIDATES:
        return _LOCALE_CANDIDATES[code]
    base = code.split("-")[0]
    return (code, base) if base != code else (code,)


class TranslationService:
    """Providers in order of preference; a provider that fails or lacks the languages hands over to the next."""

    def __init__(
        self,
        *,
        translators: Sequence[Translator],
        lookups: CachedLookups,
        cooldowns: Cooldowns,
        clock: Clock,
        quota: QuotaStore | None,
        daily_quota: int,
    ) -> None:
        self._translators = list(translators)
        self._lookups = lookups
        self._cooldowns = cooldowns
        self._clock = clock
        self._quota = quota
        self._daily_quota = daily_quota

    @property
    def configured(self) -> bool:
        return bool(self._translators)

    def _require_provider(self) -> None:
        if not self._translators:
            raise ServiceUnavailable(
                "Translation is not set up on this bot. Its owner can set TRANSLATE_API_URL (LibreTranslate) "
                "or DEEPL_API_KEY."
            )

    async def _provider_languages(self, translator: Translator) -> list[Language]:
        return await self._lookups.get_or_fetch(
            "languages",
            translator.name,
            translator.languages,
            lambda found: [dataclasses.asdict(lang) for lang in found],
            lambda data: [Language(**lang) for lang in data],
            store=bool,
        )

    async def languages(self) -> list[Language]:
        """Every language some provider offers, by code; the first provider's name wins."""
        self._require_provider()
        merged: dict[str, Language] = {}
        failure: UpstreamError | None = None
        for translator in self._translators:
            try:
                found = await self._provider_languages(translator)
            except UpstreamError as exc:
                failure = exc
                continue
            for language in found:
                merged.setdefault(language.code, language)
        if not merged and failure is not None:
            raise failure
        return sorted(merged.values(), key=lambda lang: lang.name)

    async def suggest(self, typed: str, *, limit: int = 25) -> list[Language]:
        """Autocomplete: codes and names that start with, then contain, what was typed."""
        if not self._translators:
            return []
        try:
            languages = await self.languages()
        except UpstreamError:
            return []
        wanted = normalize(typed)
        if not wanted:
            return languages[:limit]
        starts = [x for x in languages if x.code.startswith(wanted) or normalize(x.name).startswith(wanted)]
        contains = [x for x in languages if x not in starts and wanted in normalize(x.name)]
        return (starts + contains)[:limit]

    async def resolve(self, given: str) -> Language:
        """`de`, `German`, `german`, `Germ` (when unambiguous) all give German."""
        wanted = normalize(given)
        languages = await self.languages()
        for language in languages:
            if wanted in (language.code, normalize(language.name)):
                return language
        prefixed = [x for x in languages if normalize(x.name).startswith(wanted) or x.code.startswith(wanted)]
        if len(prefixed) == 1:
            return prefixed[0]
        examples = ", ".join(f"`{x.code}` ({x.name})" for x in languages[:5])
        raise InvalidInput(f"I do not know the language **{given}**. Use a name or code such as {examples}.")

    async def language_for_locale(self, locale: str) -> Language:
        languages = {x.code: x for x in await self.languages()}
        for candidate in locale_language_candidates(locale):
            if candidate in languages:
                return languages[candidate]
        if "en" in languages:
            return languages["en"]
        raise InvalidInput(f"I cannot translate into your Discord language ({locale}) yet.")

    def prepare(self, text: str, *, user_id: int, command: str = "translate") -> str:
        """Check provider, text and the caller's cooldown before any slow work; returns the stripped text."""
        self._require_provider()
        stripped = _check_text(text)
        self._cooldowns.hit(command, user_id)
        return stripped

    async def translate(
        self, text: str, target: str, source: str | None = None, *, user_id: int, guild_id: int | None
    ) -> Translation:
        self._require_provider()
        stripped = _check_text(text)
        target_language = await self.resolve(target)
        source_language = await self.resolve(source) if source else None
        source_code = source_language.code if source_language else None
        normalized = re.sub(r"[ \t]+", " ", stripped)
        digest = hashlib.sha256(normalized.encode()).hexdigest()
        key = f"{source_code or 'auto'}:{target_language.code}:{digest}"

        async def fetch() -> Translation:
            scope = f"guild:{guild_id}" if guild_id is not None else f"user:{user_id}"
            day = self._clock.now().astimezone(UTC).date()
            charged = await self._charge(scope, day)
            try:
                return await self._translate_upstream(normalized, target_language.code, source_code)
            except BaseException:
                if charged and self._quota is not None:
                    await self._quota.refund(scope, day)
                raise

        return await self._lookups.get_or_fetch(
            "translation", key, fetch, dataclasses.asdict, lambda data: Translation(**data)
        )

    async def _charge(self, scope: str, day: Any) -> bool:
        if self._quota is None or self._daily_quota <= 0:
            return False
        if await self._quota.consume(scope, day, self._daily_quota):
            return True
        midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        where = "This server" if scope.startswith("guild:") else "You"
        raise QuotaExceeded(
            f"{where} used all {self._daily_quota:,} translations for today.", until=midnight.timestamp()
        )

    async def _translate_upstream(self, text: str, target: str, source: str | None) -> Translation:
        failure: UpstreamError | None = None
        for translator in self._translators:
            try:
                codes = {x.code for x in await self._provider_languages(translator)}
                if target not in codes or (source is not None and source not in codes):
                    continue
                return await translator.translate(text, target, source)
            except UpstreamRejected as exc:
                failure = failure or exc
            except UpstreamError as exc:
                failure = exc
        if failure is not None:
            raise failure
        raise InvalidInput("None of my translation providers can translate between those languages.")


def _check_text(text: str) -> str:
    stripped = text.strip()
    if not stripped:
        raise InvalidInput("There is no text to translate.")
    if len(stripped) > MAX_TRANSLATE_CHARS:
        raise InvalidInput(
            f"That text is {len(stripped):,} characters long; I translate up to {MAX_TRANSLATE_CHARS:,} at a time."
        )
    return stripped


# --- Wikipedia -------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class WikiLookup:
    """Either an article, or choices: several hits, or the options of a disambiguation page."""

    language: str
    article: Summary | None = None
    choices: tuple[str, ...] = ()
    disambiguation: Summary | None = None


def wiki_language_for_locale(locale: str) -> str:
    code = locale.casefold().split("-")[0]
    return {"no": "no", "zh": "zh"}.get(code, code) if valid_language(code) else "en"


class WikiService:
    def __init__(self, client: WikiClient, lookups: CachedLookups, cooldowns: Cooldowns) -> None:
        self._client = client
        self._lookups = lookups
        self._cooldowns = cooldowns

    @staticmethod
    def _language(language: str) -> str:
        code = language.strip().casefold()
        if not valid_language(code):
            raise InvalidInput(f"`{language}` is not a Wikipedia language code. Try `en`, `de`, `fr` or `ja`.")
        return code

    def prepare(self, query: str, language: str, *, user_id: int) -> tuple[str, str]:
        """Check the query, the language and the caller's cooldown; returns the cleaned query and language."""
        text = " ".join(query.split())
        if not text or len(text) > MAX_QUERY_CHARS * 3:
            raise InvalidInput(f"Search for 1 to {MAX_QUERY_CHARS * 3} characters.")
        lang = self._language(language)
        self._cooldowns.hit("wiki", user_id)
        return text, lang

    async def lookup(self, query: str, language: str) -> WikiLookup:
        text = " ".join(query.split())
        lang = self._language(language)
        hits = await self._lookups.get_or_fetch(
            "wiki",
            f"search:{lang}:{normalize(text)}",
            lambda: self._client.search(text, lang, limit=WIKI_CHOICES),
            lambda found: [dataclasses.asdict(h) for h in found],
            lambda data: [SearchHit(**h) for h in data],
        )
        if not hits:
            raise NotFound(f"Wikipedia ({lang}) has no article matching **{text}**.")
        exact = next((h for h in hits if normalize(h.title) == normalize(text)), None)
        if exact is None and len(hits) > 1:
            return WikiLookup(language=lang, choices=tuple(h.title for h in hits[:WIKI_CHOICES]))
        chosen = exact or hits[0]
        return await self.open(chosen.title, lang)

    async def open(self, title: str, language: str) -> WikiLookup:
        """The article `title`; a disambiguation page comes back with its options as choices."""
        lang = self._language(language)
        summary = await self._summary(title, lang)
        if not summary.is_disambiguation:
            return WikiLookup(language=lang, article=summary)
        suggestions: list[str] = await self._lookups.get_or_fetch(
            "wiki",
            f"suggest:{lang}:{normalize(summary.title)}",
            lambda: self._client.suggest(summary.title, lang, limit=WIKI_CHOICES + 1),
            _same,
            _strings,
        )
        choices = tuple(t for t in suggestions if normalize(t) != normalize(summary.title))[:WIKI_CHOICES]
        return WikiLookup(language=lang, choices=choices, disambiguation=summary)

    async def _summary(self, title: str, lang: str) -> Summary:
        async def fetch() -> Summary | None:
            return await self._client.summary(title, lang)

        summary = await self._lookups.get_or_fetch(
            "wiki",
            f"summary:{lang}:{normalize(title)}",
            fetch,
            lambda found: dataclasses.asdict(found) if found else None,
            lambda data: Summary(**data) if data else None,
        )
        if summary is None:
            raise NotFound(f"Wikipedia ({lang}) has no article called **{title}**.")
        return summary


def _same(value: list[str]) -> list[str]:
    return value


def _strings(data: Any) -> list[str]:
    return [str(item) for item in data]
