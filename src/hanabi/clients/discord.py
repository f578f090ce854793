"""Discord as the dashboard sees it: OAuth2 for the signed-in user, and the bot's own REST view of its servers.

Everything is plain aiohttp against public endpoints; the bases are settings so tests point them at the fake.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import urllib.parse
from dataclasses import dataclass
from typing import Any

import aiohttp

from hanabi.infra.clock import Clock

log = logging.getLogger(__name__)

MANAGE_GUILD = 1 << 5
ADMINISTRATOR = 1 << 3
TEXT_CHANNEL_TYPES = frozenset({0, 5})  # text and announcement channels
API_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)


class DiscordUnauthorized(Exception):
    """Discord refused the token (the user revoked the grant, or it expired)."""


class DiscordUnavailable(Exception):
    """Discord did not answer usefully; the page says to try again."""


@dataclass(frozen=True, slots=True)
class DiscordUser:
    id: int
    username: str
    global_name: str | None
    avatar: str | None

    @property
    def display_name(self) -> str:
        return self.global_name or self.username


@dataclass(frozen=True, slots=True)
class UserGuild:
    id: int
    name: str
    icon: str | None
    owner: bool
    permissions: int

    @property
    def manageable(self) -> bool:
        return self.owner or bool(self.permissions & (MANAGE_GUILD | ADMINISTRATOR))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": self.icon,
            "owner": self.owner,
            "permissions": str(self.permissions),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UserGuild:
        return cls(
            id=int(data["id"]),
            name=str(data.get("name") or data["id"]),
            icon=data.get("icon"),
            owner=bool(data.get("owner")),
            permissions=int(data.get("permissions") or 0),
        )


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str
    expires_in: int
    scope: str


@dataclass(frozen=True, slots=True)
class NamedId:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class GuildInfo:
    id: int
    name: str
    members: int | None
    online: int | None


async def _json(response: aiohttp.ClientResponse) -> Any:
    if response.status == 401:
        raise DiscordUnauthorized
    if response.status >= 400:
        raise DiscordUnavailable(f"Discord answered {response.status}")
    return await response.json()


class DiscordOAuth:
    """The authorization-code flow with scopes `identify guilds`, and the two user calls the dashboard makes."""

    SCOPES = "identify guilds"

    def __init__(
        self, session: aiohttp.ClientSession, *, oauth_url: str, client_id: int, client_secret: str, redirect_uri: str
    ) -> None:
        self._session = session
        self._base = oauth_url.rstrip("/")
        self._api = f"{self._base}/api/v10"
        self._client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri

    def authorize_url(self, state: str) -> str:
        query = urllib.parse.urlencode(
            {
                "client_id": str(self._client_id),
                "response_type": "code",
                "scope": self.SCOPES,
                "redirect_uri": self.redirect_uri,
                "state": state,
                "prompt": "none",
            }
        )
        return f"{self._base}/oauth2/authorize?{query}"

    async def exchange(self, code: str) -> TokenGrant:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        basic = base64.b64encode(f"{self._client_id}:{self._client_secret}".encode()).decode()
        try:
            async with self._session.post(
                f"{self._api}/oauth2/token", data=form, headers={"Authorization": f"Basic {basic}"}, timeout=API_TIMEOUT
            ) as response:
                if response.status in (400, 401):
                    raise DiscordUnauthorized
                data = await _json(response)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise DiscordUnavailable(str(error)) from None
        scopes = set(str(data.get("scope", "")).split())
        if not {"identify", "guilds"} <= scopes:
            raise DiscordUnauthorized
        return TokenGrant(str(data["access_token"]), int(data.get("expires_in") or 604800), " ".join(sorted(scopes)))

    async def _get(self, path: str, token: str) -> Any:
        try:
            async with self._session.get(
                f"{self._api}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=API_TIMEOUT
            ) as response:
                return await _json(response)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise DiscordUnavailable(str(error)) from None

    async def me(self, token: str) -> DiscordUser:
        data = await self._get("/users/@me", token)
        return DiscordUser(int(data["id"]), str(data["username"]), data.get("global_name"), data.get("avatar"))

    async def guilds(self, token: str) -> list[UserGuild]:
        data = await self._get("/users/@me/guilds", token)
        return [UserGuild.from_json(item) for item in data]


class BotDirectory:
    """What the bot can see of its servers over REST (works in the bot process and in a standalone dashboard).

    Answers are cached briefly: the pages read them often, Discord's rate limits are per bot.
    """

    TTL = 30.0
    NAME_TTL = 600.0

    def __init__(self, session: aiohttp.ClientSession, *, rest_url: str, token: str, clock: Clock) -> None:
        self._session = session
        self._rest = rest_url.rstrip("/")
        self._headers = {"Authorization": f"Bot {token}"}
        self._clock = clock
        self._cache: dict[str, tuple[float, Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def _get(self, path: str, ttl: float | None = None) -> Any:
        now = self._clock.monotonic()
        cached = self._cache.get(path)
        if cached is not None and cached[0] > now:
            return cached[1]
        lock = self._locks.setdefault(path, asyncio.Lock())
        async with lock:
            cached = self._cache.get(path)
            if cached is not None and cached[0] > self._clock.monotonic():
                return cached[1]
            try:
                async with self._session.get(
                    f"{self._rest}{path}", headers=self._headers, timeout=API_TIMEOUT
                ) as response:
                    if response.status == 404:
                        data: Any = None
                    else:
                        data = await _json(response)
            except (aiohttp.ClientError, TimeoutError) as error:
                raise DiscordUnavailable(str(error)) from None
            self._cache[path] = (self._clock.monotonic() + (ttl or self.TTL), data)
            if len(self._cache) > 5000:
                self._cache.clear()
            return data

    def forget(self, guild_id: int) -> None:
        for key in [k for k in self._cache if k.startswith(f"/guilds/{guild_id}")]:
            self._cache.pop(key, None)

    async def guild_ids(self) -> set[int]:
        ids: set[int] = set()
        after = 0
        while True:
            page = await self._get(f"/users/@me/guilds?limit=200&after={after}") or []
            ids.update(int(item["id"]) for item in page)
            if len(page) < 200:
                return ids
            after = max(int(item["id"]) for item in page)

    async def guild(self, guild_id: int) -> GuildInfo | None:
        data = await self._get(f"/guilds/{guild_id}?with_counts=true")
        if data is None:
            return None
        members, online = data.get("approximate_member_count"), data.get("approximate_presence_count")
        return GuildInfo(guild_id, str(data.get("name")), members, online)

    async def text_channels(self, guild_id: int) -> list[NamedId]:
        data = await self._get(f"/guilds/{guild_id}/channels") or []
        channels = [c for c in data if int(c.get("type", -1)) in TEXT_CHANNEL_TYPES]
        channels.sort(key=lambda c: (int(c.get("position") or 0), int(c["id"])))
        return [NamedId(int(c["id"]), str(c.get("name") or c["id"])) for c in channels]

    async def roles(self, guild_id: int) -> list[NamedId]:
        data = await self._get(f"/guilds/{guild_id}/roles") or []
        roles = [r for r in data if int(r["id"]) != guild_id and not r.get("managed")]
        roles.sort(key=lambda r: -int(r.get("position") or 0))
        return [NamedId(int(r["id"]), str(r.get("name") or r["id"])) for r in roles]

    async def user_names(self, user_ids: list[int]) -> dict[int, str]:
        async def one(user_id: int) -> tuple[int, str]:
            try:
                data = await self._get(f"/users/{user_id}", ttl=self.NAME_TTL)
            except DiscordUnavailable:
                data = None
            if not data:
                return user_id, f"user {user_id}"
            return user_id, str(data.get("global_name") or data.get("username") or user_id)

        return dict(await asyncio.gather(*(one(uid) for uid in user_ids)))
