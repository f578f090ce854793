"""Discord OAuth2 for the fake Discord: authorize (redirects straight back), token, and the user's own views.

`fake.oauth.login_as(member)` picks who "logs in" next. `GET /users/@me` and `GET /users/@me/guilds` answer a
Bearer token with that user's data; with the bot's own token `/users/@me/guilds` lists the bot's servers (and
`/users/@me` goes on to the normal bot route). Permissions come from the fake guild's roles, as on Discord.
"""

from __future__ import annotations

import base64
import secrets
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.harness.payloads import Perm

if TYPE_CHECKING:
    from tests.harness.discord.server import FakeDiscord
    from tests.harness.discord.world import FakeMember

_API = "/api/v10"


@dataclass
class FakeOAuth:
    fake: FakeDiscord
    client_id: int = 0
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    next_user_id: int | None = None
    # Servers a user sees without the bot in them: user id -> [{"id", "name", "permissions", "owner"}].
    extra_guilds: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    codes: dict[str, tuple[int, str]] = field(default_factory=dict)  # code -> (user id, redirect uri)
    tokens: dict[str, int] = field(default_factory=dict)  # access token -> user id
    guild_calls: int = 0  # GET /users/@me/guilds with a user's token

    def __post_init__(self) -> None:
        self.client_id = self.fake.application_id

    def login_as(self, member: FakeMember | int) -> None:
        self.next_user_id = member if isinstance(member, int) else member.id

    def register(self, app: web.Application) -> None:
        app.router.add_get("/oauth2/authorize", self._authorize)
        app.router.add_post(f"{_API}/oauth2/token", self._token)
        app.router.add_get(f"{_API}/users/@me/guilds", self._guilds)
        app.router.add_get(f"{_API}/users/@me", self._me)

    # -- routes ------------------------------------------------------------------------------------------------

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("client_id") != str(self.client_id) or q.get("response_type") != "code":
            return web.json_response({"error": "invalid_request"}, status=400)
        if set(q.get("scope", "").split()) != {"identify", "guilds"}:
            return web.json_response({"error": "invalid_scope"}, status=400)
        redirect = q.get("redirect_uri", "")
        if self.next_user_id is None:
            target = f"{redirect}?{urllib.parse.urlencode({'error': 'access_denied', 'state': q.get('state', '')})}"
            raise web.HTTPFound(target)
        code = secrets.token_urlsafe(16)
        self.codes[code] = (self.next_user_id, redirect)
        raise web.HTTPFound(f"{redirect}?{urllib.parse.urlencode({'code': code, 'state': q.get('state', '')})}")

    def _client_ok(self, request: web.Request, form: Any) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        else:
            client_id, secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
        return client_id == str(self.client_id) and secrets.compare_digest(secret, self.client_secret)

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        if not self._client_ok(request, form):
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") != "authorization_code":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        entry = self.codes.pop(str(form.get("code", "")), None)  # a code is good for one exchange
        if entry is None or entry[1] != form.get("redirect_uri"):
            return web.json_response({"error": "invalid_grant"}, status=400)
        token = secrets.token_urlsafe(24)
        self.tokens[token] = entry[0]
        return web.json_response(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": 604800,
                "refresh_token": secrets.token_urlsafe(24),
                "scope": "identify guilds",
            }
        )

    def _bearer_user(self, request: web.Request) -> int | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        user_id = self.tokens.get(header[7:])
        if user_id is None:
            raise web.HTTPUnauthorized(
                text='{"message": "401: Unauthorized", "code": 0}', content_type="application/json"
            )
        return user_id

    async def _me(self, request: web.Request) -> web.StreamResponse:
        user_id = self._bearer_user(request)
        if user_id is None:
            return await self.fake._rest_entry(request)  # the bot's own /users/@me
        user = self.fake.users.get(user_id) or {"id": str(user_id), "username": f"user{user_id}"}
        return web.json_response({**user, "global_name": user.get("global_name"), "avatar": user.get("avatar")})

    async def _guilds(self, request: web.Request) -> web.StreamResponse:
        user_id = self._bearer_user(request)
        if user_id is None:
            if request.headers.get("Authorization") != f"Bot {self.fake.token}":
                return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)
            user_id = self.fake.bot_user_id
        else:
            self.guild_calls += 1
        out = []
        for guild in self.fake.guilds.values():
            if user_id not in guild.members:
                continue
            permissions = guild.base_permissions(user_id)
            if guild.owner_id == user_id:
                permissions = Perm.ADMINISTRATOR | permissions
            out.append(
                {
                    "id": str(guild.id),
                    "name": guild.name,
                    "icon": None,
                    "owner": guild.owner_id == user_id,
                    "permissions": str(int(permissions)),
                    "features": [],
                }
            )
        if user_id != self.fake.bot_user_id:
            out.extend(self.extra_guilds.get(user_id, []))
        return web.json_response(out)
