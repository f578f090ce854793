"""The dashboard's aiohttp application: Discord login, the server picker and every per-server page.

Pages are rendered on the server (Jinja2); the one script only adds conveniences (theme switch, confirmations).
Every state-changing request is a POST carrying the session's CSRF token, re-checks Manage Server against
Discord (at most `permission_ttl` seconds old), runs through `GuildAdmin` and answers with a redirect.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import urllib.parse
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aiohttp_jinja2
import jinja2
from aiohttp import web

from hanabi.clients.discord import BotDirectory, DiscordOAuth, DiscordUnauthorized, DiscordUnavailable, UserGuild
from hanabi.errors import DomainError, InvalidInput
from hanabi.infra.clock import Clock
from hanabi.services.automod import Rule
from hanabi.web import settings_code
from hanabi.web.actions import LOCALES, Actor, GuildAdmin, Services
from hanabi.web.security import RateLimiter, client_key, security_headers
from hanabi.web.sessions import Session, SessionManager

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
INVITE_PERMISSIONS = 1099780074560
PERMISSION_TTL = 60.0  # seconds a Manage Server answer from Discord is trusted (the upper bound)
LOGIN_LIMIT = 10  # login starts and callbacks per client address ...
LOGIN_WINDOW = 60.0  # ... per this many seconds
TIMEZONES = sorted(zoneinfo.available_timezones())
SESSION: web.RequestKey[Session | None] = web.RequestKey("session")
PREVIOUS_SESSION: web.RequestKey[Session | None] = web.RequestKey("previous_session")


@dataclass(frozen=True, slots=True)
class DashboardOptions:
    dashboard_url: str
    oauth_url: str
    client_id: int
    permission_ttl: float = PERMISSION_TTL
    login_limit: int = LOGIN_LIMIT
    login_window: float = LOGIN_WINDOW

    @property
    def https(self) -> bool:
        return self.dashboard_url.startswith("https://")

    @property
    def cookie_secure(self) -> bool:
        """Secure everywhere except plain http on a loopback address (local tests and development)."""
        if self.https:
            return True
        host = urllib.parse.urlsplit(self.dashboard_url).hostname or ""
        if host == "localhost":
            return False
        try:
            return not ipaddress.ip_address(host).is_loopback
        except ValueError:
            return True

    @property
    def cookie_name(self) -> str:
        # The __Host- prefix makes browsers refuse the cookie unless Secure, path=/ and host-only.
        return "__Host-hanabi_session" if self.cookie_secure else "hanabi_session"

    @property
    def origin(self) -> str:
        parts = urllib.parse.urlsplit(self.dashboard_url)
        return f"{parts.scheme}://{parts.netloc}"


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _form_int(value: Any, what: str, *, optional: bool = False) -> int | None:
    text = str(value or "").strip()
    if not text and optional:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"{what} must be a whole number.") from None


def _checkbox(form: Any, name: str) -> bool:
    return str(form.get(name, "")).lower() in {"on", "true", "1", "yes"}


class Dashboard:
    def __init__(
        self,
        *,
        options: DashboardOptions,
        services: Services,
        sessions: SessionManager,
        oauth: DiscordOAuth,
        bot: BotDirectory,
        clock: Clock,
    ) -> None:
        self.options = options
        self.services = services
        self.sessions = sessions
        self.oauth = oauth
        self.bot = bot
        self.clock = clock
        self.login_limiter = RateLimiter(clock, limit=options.login_limit, window=options.login_window)
        self._headers = security_headers(options.oauth_url, https=options.https)
        if not options.cookie_secure and not options.dashboard_url.startswith("http://"):
            log.warning("dashboard cookie is not Secure")

    # -- the application ---------------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._headers_middleware, self._session_middleware, self._csrf_middleware])
        env = aiohttp_jinja2.setup(
            app,
            loader=jinja2.FileSystemLoader(str(HERE / "templates")),
            autoescape=jinja2.select_autoescape(["html"]),
        )
        env.globals["rules"] = [r.value for r in Rule]
        app.on_response_prepare.append(self._add_headers)
        r = app.router
        static = cast("web.StaticResource", r.add_static("/static", HERE / "static", name="static"))
        env.globals["static"] = lambda name: str(static.url_for(filename=name, append_version=True))
        r.add_get("/", self.home)
        r.add_get("/healthz", self.healthz)
        r.add_get("/login", self.login)
        r.add_get("/callback", self.callback)
        r.add_post("/logout", self.logout)
        r.add_get("/servers", self.servers)
        r.add_get("/leaderboard", self.leaderboard)
        r.add_get("/leaderboard/{guild_id:\\d+}", self.guild_leaderboard)
        g = "/servers/{guild_id:\\d+}"
        r.add_get(g, self.overview)
        r.add_get(g + "/settings", self.settings_page)
        r.add_post(g + "/settings", self.settings_save)
        r.add_get(g + "/automod", self.automod_page)
        r.add_post(g + "/automod/rule", self.automod_rule)
        r.add_post(g + "/automod/ladder", self.automod_ladder)
        r.add_post(g + "/automod/exempt", self.automod_exempt)
        r.add_post(g + "/automod/dryrun", self.automod_dry_run)
        r.add_get(g + "/announcements", self.announcements_page)
        r.add_post(g + "/announcements", self.announcement_create)
        r.add_get(g + "/announcements/{aid:\\d+}", self.announcement_edit_page)
        r.add_post(g + "/announcements/{aid:\\d+}", self.announcement_edit)
        r.add_post(g + "/announcements/{aid:\\d+}/pause", self.announcement_pause)
        r.add_post(g + "/announcements/{aid:\\d+}/delete", self.announcement_delete)
        r.add_get(g + "/shop", self.shop_page)
        r.add_post(g + "/shop", self.shop_add)
        r.add_post(g + "/shop/edit", self.shop_edit)
        r.add_post(g + "/shop/remove", self.shop_remove)
        r.add_get(g + "/polls", self.polls_page)
        r.add_get(g + "/cases", self.cases_page)
        r.add_get(g + "/config", self.config_page)
        r.add_get(g + "/config.yaml", self.config_download)
        r.add_post(g + "/config/preview", self.config_preview)
        r.add_post(g + "/config/apply", self.config_apply)
        return app

    # -- middleware --------------------------------------------------------------------------------------------

    async def _add_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        for key, value in self._headers.items():
            response.headers.setdefault(key, value)
        if not request.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")

    @web.middleware
    async def _headers_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status >= 400 and exc.text and exc.content_type == "text/plain":
                page = self._error_page(request, exc.status, exc.reason, exc.text or "")
                for name in ("Retry-After",):
                    if name in exc.headers:
                        page.headers[name] = exc.headers[name]
                for morsel in exc.cookies.values():
                    page.cookies[morsel.key] = morsel
                return page
            raise

    def _error_page(self, request: web.Request, status: int, title: str, text: str) -> web.Response:
        session: Session | None = request.get(SESSION)
        return aiohttp_jinja2.render_template(
            "error.html", request, {"title": title, "message": text, **self._common(session)}, status=status
        )

    @web.middleware
    async def _session_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/static/"):
            return await handler(request)
        request[SESSION] = await self.sessions.load(request.cookies.get(self.options.cookie_name))
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            await self._finish_session(request, exc)
            raise
        await self._finish_session(request, response)
        return response

    async def _finish_session(self, request: web.Request, response: web.StreamResponse) -> None:
        session: Session | None = request.get(SESSION)
        previous: Session | None = request.get(PREVIOUS_SESSION)
        if previous is not None and previous.ended and (session is None or session.ended):
            response.del_cookie(self.options.cookie_name, path="/")
        if session is None:
            return
        if session.ended:
            response.del_cookie(self.options.cookie_name, path="/")
            return
        if session.dirty:
            await self.sessions.save(session)
        if session.new:
            response.set_cookie(
                self.options.cookie_name,
                session.sid,
                path="/",
                httponly=True,
                secure=self.options.cookie_secure,
                samesite="Lax",
                max_age=7 * 86400,
            )

    @web.middleware
    async def _csrf_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.method in {"GET", "HEAD", "OPTIONS"}:
            return await handler(request)
        origin = request.headers.get("Origin")
        if origin is not None and origin != self.options.origin:
            raise web.HTTPForbidden(text="This form came from another site.")
        session: Session | None = request.get(SESSION)
        form = await request.post()
        token = form.get("csrf_token") or request.headers.get("X-CSRF-Token")
        if session is None or not self.sessions.csrf_ok(session, token if isinstance(token, str) else None):
            log.warning("refused a form without a valid CSRF token: %s %s", request.method, request.path)
            raise web.HTTPForbidden(text="This form has expired or did not come from the dashboard. Reload the page.")
        return await handler(request)

    # -- helpers -----------------------------------------------------------------------------------------------

    def _common(self, session: Session | None, **extra: Any) -> dict[str, Any]:
        flashes: list[dict[str, str]] = []
        if session is not None and session.data.get("flash"):
            flashes = list(session.pop("flash"))
        return {
            "user": (session.data.get("user") if session is not None else None),
            "username": session.username if session is not None else None,
            "csrf_token": self.sessions.csrf_token(session) if session is not None else "",
            "flashes": flashes,
            "guild": None,
            "section": "",
            **extra,
        }

    def _flash(self, request: web.Request, kind: str, text: str) -> None:
        session: Session | None = request.get(SESSION)
        if session is not None:
            session.set("flash", [*session.data.get("flash", []), {"kind": kind, "text": text}])

    def _render(self, name: str, request: web.Request, **context: Any) -> web.Response:
        session: Session | None = request.get(SESSION)
        return aiohttp_jinja2.render_template(name, request, self._common(session, **context))

    def _require_login(self, request: web.Request) -> Session:
        session: Session | None = request.get(SESSION)
        if session is None or session.user_id is None:
            raise web.HTTPFound("/login") if request.method == "GET" else web.HTTPForbidden(text="Please log in.")
        return session

    async def _user_guilds(self, request: web.Request, session: Session) -> list[UserGuild]:
        """The user's servers as Discord says now, or as it said at most `permission_ttl` seconds ago."""
        now = self.clock.now().timestamp()
        checked = float(session.data.get("guilds_at") or 0)
        if now - checked < self.options.permission_ttl and session.data.get("guilds") is not None:
            return [UserGuild.from_json(g) for g in session.data["guilds"]]
        try:
            guilds = await self.oauth.guilds(str(session.data["access_token"]))
        except DiscordUnauthorized:
            await self.sessions.end(session)
            raise web.HTTPFound("/login") from None
        except DiscordUnavailable:
            raise web.HTTPServiceUnavailable(
                text="Discord is not answering right now; try again in a moment."
            ) from None
        session.set("guilds", [g.to_json() for g in guilds])
        session.set("guilds_at", now)
        return guilds

    async def _manager(self, request: web.Request) -> tuple[Session, UserGuild]:
        """The signed-in user and the server in the URL, refused unless they manage it and Hanabi is in it."""
        session = self._require_login(request)
        guild_id = int(request.match_info["guild_id"])
        guilds = await self._user_guilds(request, session)
        guild = next((g for g in guilds if g.id == guild_id), None)
        if guild is None or not guild.manageable:
            log.info("dashboard refused user %s for guild %s: no Manage Server", session.user_id, guild_id)
            raise web.HTTPForbidden(text="You need the Manage Server permission in that server to change Hanabi there.")
        if guild_id not in await self._bot_guilds():
            raise web.HTTPFound(self.invite_url(guild_id))
        return session, guild

    async def _bot_guilds(self) -> set[int]:
        try:
            return await self.bot.guild_ids()
        except DiscordUnavailable:
            raise web.HTTPServiceUnavailable(
                text="Discord is not answering right now; try again in a moment."
            ) from None

    def _admin(self, session: Session, guild: UserGuild) -> GuildAdmin:
        return GuildAdmin(self.services, guild.id, Actor(int(session.user_id or 0), session.username))

    def invite_url(self, guild_id: int) -> str:
        query = urllib.parse.urlencode(
            {
                "client_id": str(self.options.client_id),
                "scope": "bot applications.commands",
                "permissions": str(INVITE_PERMISSIONS),
                "guild_id": str(guild_id),
                "disable_guild_select": "true",
            }
        )
        return f"{self.options.oauth_url}/oauth2/authorize?{query}"

    async def _change(
        self,
        request: web.Request,
        section: str,
        action: Callable[[GuildAdmin, Any], Awaitable[str | None]],
    ) -> web.Response:
        """POST -> re-check Manage Server -> run the change -> flash the outcome -> redirect (PRG)."""
        session, guild = await self._manager(request)
        form = await request.post()
        target = f"/servers/{guild.id}/{section}"
        try:
            message = await action(self._admin(session, guild), form)
        except DomainError as error:
            self._flash(request, "error", error.user_message)
        else:
            self._flash(request, "ok", message or "Saved.")
        return _redirect(target)

    async def _guild_context(self, guild: UserGuild, section: str) -> dict[str, Any]:
        return {"guild": guild, "section": section}

    # -- public pages ------------------------------------------------------------------------------------------

    async def healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def home(self, request: web.Request) -> web.StreamResponse:
        session: Session | None = request.get(SESSION)
        if session is not None and session.user_id is not None:
            return _redirect("/servers")
        return self._render("home.html", request)

    async def leaderboard(self, request: web.Request) -> web.StreamResponse:
        board = await self.services.economy.leaderboard("global", caller_id=0, guild_id=None, size=25)
        names = await self._names([e.user_id for e in board.entries])
        config = self.services.economy.config
        return self._render(
            "leaderboard.html", request, board=board, names=names, title="Global leaderboard", amount=config.amount
        )

    async def guild_leaderboard(self, request: web.Request) -> web.StreamResponse:
        guild_id = int(request.match_info["guild_id"])
        if not await self.services.repository.public_leaderboard(guild_id):
            raise web.HTTPNotFound(text="This server has not made its leaderboard public.")
        board = await self.services.economy.leaderboard("server", caller_id=0, guild_id=guild_id, size=25)
        names = await self._names([e.user_id for e in board.entries])
        info = await self._guild_info(guild_id)
        title = f"Leaderboard of {info.name}" if info else "Server leaderboard"
        config = self.services.economy.config
        return self._render("leaderboard.html", request, board=board, names=names, title=title, amount=config.amount)

    async def _names(self, user_ids: list[int]) -> dict[int, str]:
        try:
            return await self.bot.user_names(user_ids)
        except DiscordUnavailable:
            return {uid: f"user {uid}" for uid in user_ids}

    async def _guild_info(self, guild_id: int) -> Any:
        try:
            return await self.bot.guild(guild_id)
        except DiscordUnavailable:
            return None

    # -- login -------------------------------------------------------------------------------------------------

    def _limited(self, request: web.Request) -> None:
        wait = self.login_limiter.hit(client_key(request))
        if wait is not None:
            log.warning("login rate limit hit by %s", client_key(request))
            raise web.HTTPTooManyRequests(
                text="Too many login attempts from your address; wait a minute and try again.",
                headers={"Retry-After": str(max(1, round(wait)))},
            )

    async def login(self, request: web.Request) -> web.StreamResponse:
        self._limited(request)
        session: Session | None = request.get(SESSION)
        if session is None:
            session = self.sessions.new()
            request[SESSION] = session
        state = secrets.token_urlsafe(24)
        session.set("oauth_state", state)
        return _redirect(self.oauth.authorize_url(state))

    async def callback(self, request: web.Request) -> web.StreamResponse:
        self._limited(request)
        session: Session | None = request.get(SESSION)
        expected = session.pop("oauth_state") if session is not None else None
        state = request.query.get("state", "")
        if session is None or not expected or not hmac.compare_digest(str(expected), state):
            log.warning("OAuth callback with a missing or wrong state from %s", client_key(request))
            raise web.HTTPBadRequest(
                text="That login link is not valid any more (state mismatch). Please log in again."
            )
        if "error" in request.query:
            raise web.HTTPForbidden(text="Discord did not grant access, so you are not logged in.")
        code = request.query.get("code", "")
        if not code or len(code) > 200:
            raise web.HTTPBadRequest(text="Discord sent no authorization code. Please log in again.")
        try:
            grant = await self.oauth.exchange(code)
            user = await self.oauth.me(grant.access_token)
            guilds = await self.oauth.guilds(grant.access_token)
        except DiscordUnauthorized:
            raise web.HTTPForbidden(text="Discord did not accept the login. Please try again.") from None
        except DiscordUnavailable:
            raise web.HTTPServiceUnavailable(
                text="Discord is not answering right now; try again in a moment."
            ) from None
        fresh = await self.sessions.rotate(session)
        request[PREVIOUS_SESSION] = session
        request[SESSION] = fresh
        fresh.data = {
            "user": {
                "id": str(user.id),
                "username": user.username,
                "global_name": user.global_name,
                "avatar": user.avatar,
            },
            "access_token": grant.access_token,
            "token_expires": self.clock.now().timestamp() + grant.expires_in,
            "guilds": [g.to_json() for g in guilds],
            "guilds_at": self.clock.now().timestamp(),
        }
        log.info("dashboard login: user %s", user.id, extra={"user_id": user.id})
        return _redirect("/servers")

    async def logout(self, request: web.Request) -> web.StreamResponse:
        session: Session | None = request.get(SESSION)
        if session is not None:
            await self.sessions.end(session)
        return _redirect("/")

    # -- server picker -----------------------------------------------------------------------------------------

    async def servers(self, request: web.Request) -> web.StreamResponse:
        session = self._require_login(request)
        guilds = [g for g in await self._user_guilds(request, session) if g.manageable]
        present = await self._bot_guilds()
        with_bot = [g for g in guilds if g.id in present]
        without = [(g, self.invite_url(g.id)) for g in guilds if g.id not in present]
        return self._render("servers.html", request, with_bot=with_bot, without=without)

    # -- per server: overview ----------------------------------------------------------------------------------

    async def overview(self, request: web.Request) -> web.StreamResponse:
        _, guild = await self._manager(request)
        s = self.services
        info = await self._guild_info(guild.id)
        announcements = [a for a in await s.scheduler.list_for_guild(guild.id) if not a.row.paused]
        upcoming = sorted(((s.scheduler.upcoming(a, 1) or [a.row.next_run])[0], a) for a in announcements)[:5]
        return self._render(
            "overview.html",
            request,
            **await self._guild_context(guild, "overview"),
            info=info,
            totals=await s.repository.economy_totals(guild.id),
            amount=s.economy.config.amount,
            polls=await s.polls.list_open(guild.id),
            upcoming=upcoming,
            reminders=await s.scheduler.pending_reminders(guild.id),
            cases=(await s.repository.recent_cases(guild.id, 5)),
            changes=(await s.repository.changes(guild.id, 5)),
        )

    # -- settings ----------------------------------------------------------------------------------------------

    async def settings_page(self, request: web.Request) -> web.StreamResponse:
        _, guild = await self._manager(request)
        s = self.services
        return self._render(
            "settings.html",
            request,
            **await self._guild_context(guild, "settings"),
            current=await s.guild_settings.get(guild.id),
            dj_role=await s.music.dj_role(guild.id),
            public_leaderboard=await s.repository.public_leaderboard(guild.id),
            channels=await self._channels(guild.id),
            roles=await self._roles(guild.id),
            locales=LOCALES,
            timezones=TIMEZONES,
        )

    async def _channels(self, guild_id: int) -> list[Any]:
        try:
            return await self.bot.text_channels(guild_id)
        except DiscordUnavailable:
            return []

    async def _roles(self, guild_id: int) -> list[Any]:
        try:
            return await self.bot.roles(guild_id)
        except DiscordUnavailable:
            return []

    async def settings_save(self, request: web.Request) -> web.StreamResponse:
        async def save(admin: GuildAdmin, form: Any) -> str:
            channel = _form_int(form.get("modlog_channel"), "The mod-log channel", optional=True)
            changed = await admin.update_settings(
                prefix=str(form.get("prefix", "")).strip() or None,
                timezone=str(form.get("timezone", "")).strip() or None,
                locale=str(form.get("locale", "")).strip() or None,
                modlog_channel_id=channel,
            )
            dj = await admin.set_dj_role(_form_int(form.get("dj_role"), "The DJ role", optional=True))
            board = await admin.set_public_leaderboard(_checkbox(form, "public_leaderboard"))
            if not (changed or dj or board):
                return "Nothing changed."
            return "Saved: " + "; ".join(
                [*changed, *(["DJ role"] if dj else []), *(["public leaderboard"] if board else [])]
            )

        return await self._change(request, "settings", save)

    # -- automod -----------------------------------------------------------------------------------------------

    async def automod_page(self, request: web.Request) -> web.StreamResponse:
        _, guild = await self._manager(request)
        config = await self.services.moderation.config(guild.id)
        exported = await settings_code.export(self.services, guild.id)
        roles = await self._roles(guild.id)
        channels = await self._channels(guild.id)
        return self._render(
            "automod.html",
            request,
            **await self._guild_context(guild, "automod"),
            config=config,
            automod=exported["automod"],
            roles=roles,
            channels=channels,
            role_names={r.id: r.name for r in roles},
            channel_names={c.id: c.name for c in channels},
        )

    async def automod_rule(self, request: web.Request) -> web.StreamResponse:
        async def save(admin: GuildAdmin, form: Any) -> str:
            rule = str(form.get("rule", ""))
            action = str(form.get("action", "")).strip() or None
            seconds_text = str(form.get("seconds", "")).strip()
            try:
                seconds = float(seconds_text) if seconds_text else None
            except ValueError:
                raise InvalidInput("The time window is a number of seconds.") from None
            await admin.set_rule(
                rule,
                enabled=_checkbox(form, "enabled"),
                count=_form_int(form.get("count"), "The count", optional=True),
                seconds=seconds,
                delete=_checkbox(form, "delete"),
                action=action,
                duration=(str(form.get("timeout", "")).strip() or None) if action == "timeout" else None,
                escalate=_checkbox(form, "escalate"),
                allowlist=str(form["allowlist"]) if "allowlist" in form else None,
            )
            return f"Saved the {rule} rule."

        return await self._change(request, "automod", save)

    async def automod_ladder(self, request: web.Request) -> web.StreamResponse:
        async def save(admin: GuildAdmin, form: Any) -> str:
            await admin.set_ladder(
                str(form.get("ladder", "")).strip() or None, str(form.get("window", "")).strip() or None
            )
            return "Saved the escalation ladder."

        return await self._change(request, "automod", save)

    async def automod_exempt(self, request: web.Request) -> web.StreamResponse:
        async def save(admin: GuildAdmin, form: Any) -> str:
            remove = _checkbox(form, "remove")
            await admin.set_exempt(
                role_id=_form_int(form.get("role"), "The role", optional=True),
                channel_id=_form_int(form.get("channel"), "The channel", optional=True),
                remove=remove,
            )
            return "Exemption removed." if remove else "Exemption added."

        return await self._change(request, "automod", save)

    async def automod_dry_run(self, request: web.Request) -> web.StreamResponse:
        async def save(admin: GuildAdmin, form: Any) -> str:
            on = _checkbox(form, "on")
            await admin.set_dry_run(on)
            return "Dry run is on: nothing is deleted or punished." if on else "Dry run is off."

        return await self._change(request, "automod", save)

    # -- announcements -----------------------------------------------------------------------------------------

    async def announcements_page(self, request: web.Request) -> web.StreamResponse:
        _, guild = await self._manager(request)
        scheduler = self.services.scheduler
        items = [(a, scheduler.upcoming(a)) for a in await scheduler.list_for_guild(guild.id)]
        channels = await self._channels(guild.id)
        return self._render(
            "announcements.html",
            request,
            **await self._guild_context(guild, "announcements"),
            items=items,
            channels=channels,
            channel_names={c.id: c.name for c in channels},
            server_timezone=await scheduler.server_timezone(guild.id),
            timezones=TIMEZONES,
        )

    @staticmethod
    def _announcement_fields(form: Any) -> dict[str, Any]:
        channel = _form_int(form.get("channel"), "The channel")
        return {
            "channel_id": channel,
            "message": str(form.get("message", "")),
            "schedule": str(form.get("schedule", "")).strip(),
            "title": str(form.get("title", "")).strip() or None,
            "timezone": str(form.get("timezone", "")).strip() or None,
            "starts": str(form.get("starts", "")).strip() or None,
        }

    async def announcement_create(self, request: web.Request) -> web.StreamResponse:
        async def save(admin: GuildAdmin, form: Any) -> str:
            new_id = await admin.create_announcement(**self._announcement_fields(form))
            return f"Announcement #{new_id} created."

        return await self._change(request, "announcements", save)

    async def announcement_edit_page(self, request: web.Request) -> web.StreamResponse:
        _, guild = await self._manager(request)
        try:
            announcement = await self.services.scheduler.get(guild.id, int(request.match_info["aid"]))
        except DomainError as error:
            raise web.HTTPNotFound(text=error.user_message) from None
        return self._render(
            "announcement_edit.html",
            request,
            **await self._guild_context(guild, "announcements"),
            a=announcement,
            channels=await self._channels(guild.id),
            timezones=TIMEZONES,
        )

    async def announcement_edit(self, request: web.Request) -> web.StreamResponse:
        aid = int(request.match_info["aid"])

        async def save(admin: GuildAdmin, form: Any) -> str:
            new_id = await admin.replace_announcement(aid, **self._announcement_fields(form))
            return f"Announcement #{aid} saved as #{new_id}."

        return await self._change(request, "announcements", save)

    async def announcement_pause(self, request: web.Request) -> web.StreamResponse:
        aid = int(request.match_info["aid"])

        async def save(admin: GuildAdmin, form: Any) -> str:
            paused = _checkbox(form, "paused")
            await admin.pause_announcement(aid, paused)
            return f"Announcement #{aid} {'paused' if paused else 'resumed'}."

        return await self._change(request, "announcements", save)

    async def announcement_delete(self, request: web.Request) -> web.StreamResponse:
        aid = int(request.match_info["aid"])

        async def save(admin: GuildAdmin, form: Any) -> str:
            await admin.delete_announcement(aid)
            return f"Announcement #{aid} deleted."

        return await self._change(request, "announcements", save)

    # -- shop --------------------------------------------------------------------------------------------------

    async def shop_page(self, request: web.Request) -> web.StreamResponse:
        _, guild = await self._manager(request)
        roles = await self._roles(guild.id)
        return self._render(
            "shop.html",
            request,
            **await self._guild_context(guild, "shop"),
            items=await self.services.economy.items(guild.id),
            roles=roles,
            role_names={r.id: r.name for r in roles},
            currency=self.services.economy.config.currency_name,
        )

    @staticmethod
    def _item_fields(form: Any) -> dict[str, Any]:
        return {
            "price": _form_int(form.get("price"), "The price"),
            "description": str(form.get("description", "")),
            "role_id": _form_int(form.get("role"), "The role", optional=True),
            "stock": _form_int(form.get("stock"), "The stock", optional=True),
        }

    async def shop_add(self, request: web.Request) -> web.StreamResponse:
        async def save(admin: GuildAdmin, form: Any) -> str:
            name = str(form.get("name", ""))
            await admin.add_item(name=name, **self._item_fields(form))
            return f"Added {name.strip()} to the shop."

        return await self._change(request, "shop", save)

    async def shop_edit(self, request: web.Request) -> web.StreamResponse:
        async def save(admin: GuildAdmin, form: Any) -> str:
            original = str(form.get("original", ""))
            await admin.edit_item(
                original, new_name=str(form.get("name", "")).strip() or None, **self._item_fields(form)
            )
            return f"Saved {original}."

        return await self._change(request, "shop", save)

    async def shop_remove(self, request: web.Request) -> web.StreamResponse:
        async def save(admin: GuildAdmin, form: Any) -> str:
            name = str(form.get("original", ""))
            await admin.remove_item(name)
            return f"Removed {name} from the shop."

        return await self._change(request, "shop", save)

    # -- polls and cases ---------------------------------------------------------------------------------------

    async def polls_page(self, request: web.Request) -> web.StreamResponse:
        _, guild = await self._manager(request)
        polls = self.services.polls
        closed = []
        for poll_id in await self.services.repository.closed_poll_ids(guild.id):
            try:
                closed.append(await polls.get(poll_id, guild.id))
            except DomainError:
                continue
        return self._render(
            "polls.html",
            request,
            **await self._guild_context(guild, "polls"),
            open_polls=await polls.list_open(guild.id),
            closed_polls=closed,
        )

    async def cases_page(self, request: web.Request) -> web.StreamResponse:
        _, guild = await self._manager(request)
        cases = await self.services.repository.recent_cases(guild.id)
        changes = await self.services.repository.changes(guild.id)
        names = await self._names(sorted({c.user_id for c in cases}))
        return self._render(
            "cases.html",
            request,
            **await self._guild_context(guild, "cases"),
            cases=cases,
            changes=changes,
            names=names,
        )

    # -- settings as code --------------------------------------------------------------------------------------

    async def config_page(self, request: web.Request) -> web.StreamResponse:
        _, guild = await self._manager(request)
        return self._render("config.html", request, **await self._guild_context(guild, "config"), preview=None)

    async def config_download(self, request: web.Request) -> web.StreamResponse:
        _, guild = await self._manager(request)
        document = await settings_code.export(self.services, guild.id)
        header = (
            f"# Hanabi settings of {guild.name} ({guild.id}), exported {self.clock.now():%Y-%m-%d %H:%M} UTC.\n"
            "# Edit and upload on the dashboard's Settings as code page. Shop items and announcements left out of\n"
            "# the lists are removed; leave a whole section out to keep it as it is.\n"
        )
        return web.Response(
            text=settings_code.dump(document, header),
            content_type="application/yaml",
            headers={"Content-Disposition": f'attachment; filename="hanabi-{guild.id}.yaml"'},
        )

    async def _uploaded_text(self, request: web.Request) -> str:
        form = await request.post()
        upload = form.get("file")
        if upload is not None and hasattr(upload, "file"):
            data = upload.file.read(settings_code.MAX_UPLOAD + 1)
            if data:
                try:
                    return str(data.decode("utf-8"))
                except UnicodeDecodeError:
                    raise InvalidInput("The file is not UTF-8 text.") from None
        return str(form.get("yaml", ""))

    async def config_preview(self, request: web.Request) -> web.StreamResponse:
        _, guild = await self._manager(request)
        error = None
        preview = None
        text = ""
        try:
            text = await self._uploaded_text(request)
            wanted = settings_code.parse(text)
            current = await settings_code.export(self.services, guild.id)
            preview = settings_code.plan(current, wanted)
        except DomainError as failure:
            error = failure.user_message
        return self._render(
            "config.html",
            request,
            **await self._guild_context(guild, "config"),
            preview=preview,
            yaml_text=text,
            error=error,
        )

    async def config_apply(self, request: web.Request) -> web.StreamResponse:
        async def save(admin: GuildAdmin, form: Any) -> str:
            wanted = settings_code.parse(str(form.get("yaml", "")))
            current = await settings_code.export(self.services, admin.guild_id)
            plan = settings_code.plan(current, wanted)
            if not plan.operations:
                return "Nothing to change: the server already matches the file."
            report = await settings_code.apply(plan, admin)
            if report.failed is not None:
                done = f" Applied before it: {len(report.applied)} change(s)." if report.applied else ""
                raise InvalidInput(f"Stopped at “{report.failed}”: {report.error}{done}")
            return f"Applied {len(report.applied)} change(s)."

        return await self._change(request, "config", save)
