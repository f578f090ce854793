"""Translation providers: a LibreTranslate-compatible API, and DeepL when a key is configured.

Language codes are lower-case everywhere above this module (`en`, `de`, `pt-br`, `zh-hans`); each client maps
them to what its API expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, TypeAdapter

from hanabi.clients.http import Upstream


@dataclass(frozen=True, slots=True)
class Language:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Translation:
    text: str
    source: str  # the given or detected source language code
    target: str
    provider: str
    detected: bool = False


class Translator(Protocol):
    name: str

    async def languages(self) -> list[Language]: ...

    async def translate(self, text: str, target: str, source: str | None = None) -> Translation: ...

    async def detect(self, text: str) -> str | None: ...


# --- LibreTranslate (https://libretranslate.com/docs) ------------------------------------------------------------


class _LibreLanguage(BaseModel):
    code: str
    name: str
    targets: list[str] = []


class _Detected(BaseModel):
    language: str
    confidence: float = 0.0


class _LibreTranslation(BaseModel):
    translatedText: str  # noqa: N815 - the API's field name
    detectedLanguage: _Detected | None = None  # noqa: N815


_LIBRE_LANGUAGES = TypeAdapter(list[_LibreLanguage])
_LIBRE_TRANSLATION = TypeAdapter(_LibreTranslation)
_LIBRE_DETECT = TypeAdapter(list[_Detected])


class LibreTranslateClient:
    name = "libretranslate"

    def __init__(self, upstream: Upstream, base_url: str, api_key: str | None = None) -> None:
        self._upstream = upstream
        self._base = base_url.rstrip("/")
        self._key = api_key

    def _with_key(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self._key:
            payload["api_key"] = self._key
        return payload

    async def languages(self) -> list[Language]:
        body = await self._upstream.request("GET", f"{self._base}/languages", _LIBRE_LANGUAGES)
        return [Language(code=item.code.lower(), name=item.name) for item in body or []]

    async def translate(self, text: str, target: str, source: str | None = None) -> Translation:
        payload = self._with_key({"q": text, "source": source or "auto", "target": target, "format": "text"})
        body = await self._upstream.request("POST", f"{self._base}/translate", _LIBRE_TRANSLATION, json=payload)
        if body is None:
            raise self._upstream.malformed("translate: empty body")
        detected = source is None
        found = body.detectedLanguage.language.lower() if body.detectedLanguage else None
        if detected and found is None:
            found = await self.detect(text)  # older servers do not report what "auto" found
        return Translation(
            text=body.translatedText,
            source=(found or "?") if detected else source or "?",
            target=target,
            provider=self.name,
            detected=detected,
        )

    async def detect(self, text: str) -> str | None:
        body = await self._upstream.request(
            "POST", f"{self._base}/detect", _LIBRE_DETECT, json=self._with_key({"q": text})
        )
        if not body:
            return None
        return max(body, key=lambda d: d.confidence).language.lower()


# --- DeepL (https://developers.deepl.com/docs/api-reference) -----------------------------------------------------


class _DeepLLanguage(BaseModel):
    language: str
    name: str


class _DeepLText(BaseModel):
    text: str
    detected_source_language: str | None = None


class _DeepLTranslation(BaseModel):
    translations: list[_DeepLText]


_DEEPL_LANGUAGES = TypeAdapter(list[_DeepLLanguage])
_DEEPL_TRANSLATION = TypeAdapter(_DeepLTranslation)

# DeepL wants a regional variant for these targets; plain `en`/`pt` are deprecated as targets.
_DEEPL_TARGET_DEFAULTS = {"en": "EN-US", "pt": "PT-BR"}


class DeepLClient:
    name = "deepl"

    def __init__(self, upstream: Upstream, base_url: str, api_key: str) -> None:
        self._upstream = upstream
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"DeepL-Auth-Key {api_key}"}

    async def languages(self) -> list[Language]:
        body = await self._upstream.request(
            "GET", f"{self._base}/v2/languages", _DEEPL_LANGUAGES, params={"type": "target"}, headers=self._headers
        )
        return [Language(code=item.language.lower(), name=item.name) for item in body or []]

    async def translate(self, text: str, target: str, source: str | None = None) -> Translation:
        payload: dict[str, Any] = {"text": [text], "target_lang": _DEEPL_TARGET_DEFAULTS.get(target, target.upper())}
        if source is not None:
            payload["source_lang"] = source.split("-")[0].upper()  # source languages carry no variant
        body = await self._upstream.request(
            "POST", f"{self._base}/v2/translate", _DEEPL_TRANSLATION, json=payload, headers=self._headers
        )
        if body is None or not body.translations:
            raise self._upstream.malformed("translate: no translations")
        first = body.translations[0]
        found = (first.detected_source_language or "").lower() or None
        return Translation(
            text=first.text,
            source=source or found or "?",
            target=target,
            provider=self.name,
            detected=source is None,
        )

    async def detect(self, text: str) -> str | None:
        # DeepL has no detection endpoint; a translation to English reports the detected source.
        return (await self.translate(text, "en")).source
