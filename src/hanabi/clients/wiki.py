"""Wikipedia: the action API (`list=search`, `opensearch`) and the REST page summary."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from pydantic import BaseModel, TypeAdapter

from hanabi.clients.http import Upstream

_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")
_TAGS = re.compile(r"<[^>]+>")


@dataclass(frozen=True, slots=True)
class SearchHit:
    title: str
    snippet: str = ""


@dataclass(frozen=True, slots=True)
class Summary:
    title: str
    extract: str
    url: str
    kind: str  # "standard", "disambiguation", ...
    description: str | None = None
    thumbnail: str | None = None

    @property
    def is_disambiguation(self) -> bool:
        return self.kind == "disambiguation"


class WikiClient(Protocol):
    async def search(self, query: str, language: str, *, limit: int = 10) -> list[SearchHit]: ...

    async def suggest(self, prefix: str, language: str, *, limit: int = 10) -> list[str]: ...

    async def summary(self, title: str, language: str) -> Summary | None: ...


# Response shapes: https://www.mediawiki.org/wiki/API:Search, API:Opensearch, and the REST v1 page summary.


class _Hit(BaseModel):
    title: str
    snippet: str = ""


class _Query(BaseModel):
    search: list[_Hit] = []


class _SearchResponse(BaseModel):
    query: _Query = _Query()


class _Thumbnail(BaseModel):
    source: str


class _Desktop(BaseModel):
    page: str


class _ContentUrls(BaseModel):
    desktop: _Desktop


class _SummaryResponse(BaseModel):
    type: str
    title: str
    extract: str = ""
    description: str | None = None
    thumbnail: _Thumbnail | None = None
    content_urls: _ContentUrls


_SEARCH = TypeAdapter(_SearchResponse)
_OPENSEARCH = TypeAdapter(tuple[str, list[str], list[str], list[str]])
_SUMMARY = TypeAdapter(_SummaryResponse)


def valid_language(code: str) -> bool:
    return bool(_LANGUAGE.match(code))


class WikipediaClient:
    """`base_url` holds `{lang}`, e.g. `https://{lang}.wikipedia.org`; tests point it at a fake."""

    def __init__(self, upstream: Upstream, base_url: str) -> None:
        self._upstream = upstream
        self._template = base_url.rstrip("/")

    def _base(self, language: str) -> str:
        if not valid_language(language):
            raise ValueError(f"not a language code: {language!r}")
        return self._template.replace("{lang}", language)

    async def search(self, query: str, language: str, *, limit: int = 10) -> list[SearchHit]:
        params: dict[str, str | int | float] = {
            "action": "query",
            "list": "search",
            "srsearch": query,
            "srlimit": limit,
            "srnamespace": 0,
            "format": "json",
            "formatversion": 2,
        }
        body = await self._upstream.request("GET", f"{self._base(language)}/w/api.php", _SEARCH, params=params)
        if body is None:
            return []
        return [SearchHit(title=h.title, snippet=_plain(h.snippet)) for h in body.query.search]

    async def suggest(self, prefix: str, language: str, *, limit: int = 10) -> list[str]:
        params: dict[str, str | int | float] = {
            "action": "opensearch",
            "search": prefix,
            "limit": limit,
            "namespace": 0,
            "format": "json",
        }
        body = await self._upstream.request("GET", f"{self._base(language)}/w/api.php", _OPENSEARCH, params=params)
        return list(body[1]) if body is not None else []

    async def summary(self, title: str, language: str) -> Summary | None:
        path = quote(title.replace(" ", "_"), safe="")
        body = await self._upstream.request(
            "GET", f"{self._base(language)}/api/rest_v1/page/summary/{path}", _SUMMARY, allow_not_found=True
        )
        if body is None:
            return None
        return Summary(
            title=body.title,
            extract=body.extract,
            url=body.content_urls.desktop.page,
            kind=body.type,
            description=body.description,
            thumbnail=body.thumbnail.source if body.thumbnail else None,
        )


def _plain(snippet: str) -> str:
    """Search snippets carry `<span class="searchmatch">` highlighting and HTML entities."""
    return html.unescape(_TAGS.sub("", snippet)).strip()
