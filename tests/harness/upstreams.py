"""Fake upstream APIs on 127.0.0.1: Open-Meteo, LibreTranslate, DeepL and Wikipedia, answering from fixture files.

One aiohttp app serves all of them under different prefixes; `settings()` gives the bot settings that point at it.
Every endpoint belongs to a group (`geocoding`, `forecast`, `languages`, `translate`, `detect`, `deepl`,
`wiki_search`, `wiki_summary`) with controls: `fail_next(group, n, status)`, `hang(group)`, `malformed_next(group)`
and `calls[group]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8"))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.casefold()).strip("_")


def _title_file(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", title).strip("_")


@dataclass
class _Failure:
    remaining: int
    status: int
    retry_after: str | None = None


@dataclass
class FakeUpstreams:
    host: str = "127.0.0.1"
    calls: Counter[str] = field(default_factory=Counter)
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    _failures: dict[str, _Failure] = field(default_factory=dict)
    _malformed: dict[str, int] = field(default_factory=dict)
    _hanging: dict[str, float] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    # controls ------------------------------------------------------------------------------------------------------

    def fail_next(self, group: str, times: int = 1, status: int = 500, retry_after: str | None = None) -> None:
        """The next `times` requests of `group` answer `status` (with an error body, like the real APIs)."""
        self._failures[group] = _Failure(times, status, retry_after)

    def malformed_next(self, group: str, times: int = 1) -> None:
        """The next `times` requests of `group` answer 200 with a body that is not valid JSON."""
        self._malformed[group] = times

    def hang(self, group: str, seconds: float = 30.0) -> None:
        """Requests of `group` wait `seconds` before answering (until `recover`)."""
        self._hanging[group] = seconds

    def recover(self, group: str | None = None) -> None:
        if group is None or group in self._hanging:
            self._release.set()  # let hanging requests finish now
            self._release = asyncio.Event()
        for table in (self._failures, self._malformed, self._hanging):
            if group is None:
                table.clear()
            else:
                table.pop(group, None)

    # settings ------------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def settings(self, *, deepl: bool = False, libre: bool = True) -> dict[str, Any]:
        values: dict[str, Any] = {
            "weather_api_url": self.url,
            "geocoding_api_url": self.url,
            "translate_api_url": f"{self.url}/libre" if libre else None,
            "translate_api_key": "libre-test-key" if libre else None,
            "deepl_api_url": f"{self.url}/deepl",
            "wiki_api_url": f"{self.url}/wiki/{{lang}}",
            "upstream_backoff_seconds": 0.01,
            "upstream_connect_timeout": 1.0,
            "upstream_total_timeout": 2.0,
        }
        if deepl:
            values["deepl_api_key"] = "deepl-test-key:fx"
        return values

    # server --------------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        routes = [
            ("GET", "/v1/search", "geocoding", self._geocoding),
            ("GET", "/v1/forecast", "forecast", self._forecast),
            ("GET", "/libre/languages", "languages", self._libre_languages),
            ("POST", "/libre/translate", "translate", self._libre_translate),
            ("POST", "/libre/detect", "detect", self._libre_detect),
            ("GET", "/deepl/v2/languages", "deepl", self._deepl_languages),
            ("POST", "/deepl/v2/translate", "deepl", self._deepl_translate),
            ("GET", "/wiki/{lang}/w/api.php", "wiki_search", self._wiki_action),
            ("GET", "/wiki/{lang}/api/rest_v1/page/summary/{title}", "wiki_summary", self._wiki_summary),
        ]
        for method, path, group, handler in routes:
            app.router.add_route(method, path, self._wrap(group, handler))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _wrap(self, group: str, handler: Any) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            body: Any = None
            if request.method == "POST":
                body = (
                    await request.json() if request.content_type == "application/json" else dict(await request.post())
                )
            self.calls[group] += 1
            self.requests.append((group, request.path_qs, dict(request.headers), body))
            if group in self._hanging:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._release.wait(), self._hanging[group])
            failure = self._failures.get(group)
            if failure is not None and failure.remaining > 0:
                failure.remaining -= 1
                headers = {"Retry-After": failure.retry_after} if failure.retry_after else None
                return web.json_response({"error": "upstream failure (fake)"}, status=failure.status, headers=headers)
            if self._malformed.get(group, 0) > 0:
                self._malformed[group] -= 1
                return web.Response(text='{"results": [{"name": ', content_type="application/json")
            result: web.StreamResponse = await handler(request, body)
            return result

        return handle

    # Open-Meteo ----------------------------------------------------------------------------------------------------

    async def _geocoding(self, request: web.Request, _: Any) -> web.Response:
        name = _slug(request.query.get("name", ""))
        if name.startswith("testville"):
            # A place of its own for tests that must not share cache entries with earlier runs.
            seed = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
            place = {
                "id": seed,
                "name": request.query["name"],
                "latitude": (seed % 17000) / 100 - 85,
                "longitude": (seed % 35000) / 100 - 175,
                "country_code": "XX",
                "country": "Testland",
                "admin1": "Test Region",
                "timezone": "UTC",
                "population": 1000,
            }
            return web.json_response({"results": [place], "generationtime_ms": 0.1})
        path = FIXTURES / "open_meteo" / f"search_{name}.json"
        data = fixture(f"open_meteo/search_{name}.json") if path.exists() else fixture("open_meteo/search_empty.json")
        if "results" in data:
            data["results"] = data["results"][: int(request.query.get("count", "10"))]
        return web.json_response(data)

    async def _forecast(self, request: web.Request, _: Any) -> web.Response:
        data = fixture("open_meteo/forecast.json")
        data["latitude"] = float(request.query["latitude"])
        data["longitude"] = float(request.query["longitude"])
        return web.json_response(data)

    # LibreTranslate ------------------------------------------------------------------------------------------------

    async def _libre_languages(self, _: web.Request, __: Any) -> web.Response:
        return web.json_response(fixture("libretranslate/languages.json"))

    async def _libre_translate(self, _: web.Request, body: dict[str, Any]) -> web.Response:
        table = fixture("libretranslate/translations.json")
        text, target, source = str(body["q"]), str(body["target"]), str(body.get("source", "auto"))
        translated = table["texts"].get(target, {}).get(text, f"[{target}] {text}")
        answer: dict[str, Any] = {"translatedText": translated}
        if source == "auto":
            answer["detectedLanguage"] = {"confidence": 90.0, "language": table["detect"].get(text, "en")}
        return web.json_response(answer)

    async def _libre_detect(self, _: web.Request, body: dict[str, Any]) -> web.Response:
        table = fixture("libretranslate/translations.json")
        language = table["detect"].get(str(body["q"]))
        if language is None:
            return web.json_response(fixture("libretranslate/detect.json"))
        return web.json_response([{"confidence": 90.0, "language": language}])

    # DeepL ---------------------------------------------------------------------------------------------------------

    async def _deepl_languages(self, request: web.Request, _: Any) -> web.Response:
        if not request.headers.get("Authorization", "").startswith("DeepL-Auth-Key "):
            return web.json_response({"message": "Forbidden"}, status=403)
        return web.json_response(fixture("deepl/languages.json"))

    async def _deepl_translate(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        if not request.headers.get("Authorization", "").startswith("DeepL-Auth-Key "):
            return web.json_response({"message": "Forbidden"}, status=403)
        target = str(body["target_lang"])
        texts = body["text"] if isinstance(body["text"], list) else [body["text"]]
        return web.json_response(
            {
                "translations": [
                    {"detected_source_language": body.get("source_lang") or "EN", "text": f"[DeepL {target}] {t}"}
                    for t in texts
                ]
            }
        )

    # Wikipedia -----------------------------------------------------------------------------------------------------

    async def _wiki_action(self, request: web.Request, _: Any) -> web.Response:
        action = request.query.get("action")
        if action == "opensearch":
            term = request.query.get("search", "")
            path = FIXTURES / "wikipedia" / f"opensearch_{_slug(term)}.json"
            return web.json_response(
                fixture(path.relative_to(FIXTURES).as_posix()) if path.exists() else [term, [], [], []]
            )
        if action == "query" and request.query.get("list") == "search":
            path = FIXTURES / "wikipedia" / f"search_{_slug(request.query.get('srsearch', ''))}.json"
            name = path.relative_to(FIXTURES).as_posix() if path.exists() else "wikipedia/search_empty.json"
            return web.json_response(fixture(name))
        return web.json_response({"error": {"code": "badvalue", "info": "Unrecognized value"}}, status=400)

    async def _wiki_summary(self, request: web.Request, _: Any) -> web.Response:
        title = request.match_info["title"].replace("_", " ")
        path = FIXTURES / "wikipedia" / f"summary_{_title_file(title)}.json"
        if not path.exists():
            return web.json_response(fixture("wikipedia/not_found.json"), status=404)
        data = fixture(path.relative_to(FIXTURES).as_posix())
        data["lang"] = request.match_info["lang"]
        return web.json_response(data)
