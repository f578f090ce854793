"""``FakeDiscord``: the aiohttp app tying the REST routes, the gateway and the test driver together."""

from __future__ import annotations

import asyncio
import types

from aiohttp import web

from tests.harness.discord.driver import DriverMixin
from tests.harness.discord.gateway import GatewayMixin
from tests.harness.discord.oauth import FakeOAuth
from tests.harness.discord.rest import RestMixin
from tests.harness.discord.world import FakeGuild, FakeRole
from tests.harness.payloads import Perm, user_payload


class FakeDiscord(DriverMixin, GatewayMixin, RestMixin):
    """A loopback Discord: ``rest_url`` for ``hikari.GatewayBot(rest_url=...)``, ``token`` for the bot."""

    def __init__(self, *, shard_count: int = 1, max_concurrency: int = 1) -> None:
        super().__init__(shard_count=shard_count, max_concurrency=max_concurrency)
        self._runner: web.AppRunner | None = None
        self.oauth = FakeOAuth(self)  # OAuth2 for the web dashboard (tests/harness/discord/oauth.py)

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway_handler)
        self.oauth.register(app)  # before the REST catch-all below
        app.router.add_route("*", "/{tail:.*}", self._rest_entry)
        # A short shutdown timeout: the bot's keep-alive connections must not stall test teardown.
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._changed = asyncio.Event()

    async def stop(self) -> None:
        await self._close_all()
        pending = [*self._tasks, *self._background]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        await self.stop()

    # -- world factories -----------------------------------------------------------------------------------------

    def add_guild(
        self,
        name: str = "Test Guild",
        *,
        owner_id: int | None = None,
        members: int = 0,
        shard_id: int | None = None,
        bot_permissions: int = Perm.ADMINISTRATOR,
    ) -> FakeGuild:
        """A guild with #general, a voice channel, its owner, the bot (managed "Hanabi" role) and ``members``
        extra users. Added after READY it arrives as a GUILD_CREATE join."""
        guild_id = self.snowflakes.next_matching(shard_id, self.shard_count) if shard_id is not None else self.new_id()
        owner = owner_id if owner_id is not None else self.owner_id
        guild = FakeGuild(self, guild_id, name, owner)
        guild.add_text_channel("general")
        guild.add_voice_channel("General")
        guild.add_member(user=self.users.get(owner) or user_payload(owner, f"owner{owner}"))
        bot_role = FakeRole(
            id=self.new_id(),
            guild_id=guild_id,
            name=self.bot_name,
            permissions=bot_permissions,
            position=1,
            managed=True,
            bot_id=self.bot_user_id,
        )
        guild.roles[bot_role.id] = bot_role
        guild.add_member(user=self.bot_user, roles=[bot_role])
        for _ in range(members):
            guild.add_member()
        self.guilds[guild_id] = guild
        shard = self.shard_for(guild_id)
        if self._shard_live(shard):
            session = self.shards[shard]
            self.spawn(self._send_dispatch(session, "GUILD_CREATE", self._guild_create(session, guild_id, join=True)))
        self.changed()
        return guild

    async def remove_guild(self, guild: FakeGuild) -> None:
        """The bot is removed from the guild (GUILD_DELETE without ``unavailable``)."""
        await self.flush()
        self.guilds.pop(guild.id, None)
        await self.dispatch("GUILD_DELETE", {"id": str(guild.id)}, shard_id=self.shard_for(guild.id), force=True)
