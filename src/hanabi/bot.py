"""The bot factory: hikari GatewayBot + lightbulb client + miru client, fed from the container."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import os
import pkgutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import asyncpg
import hikari
import lightbulb
import miru
from dependency_injector import providers

import extensions
from hanabi import __version__
from hanabi.clients.interaction_callbacks import InteractionCallbacks
from hanabi.config import Settings
from hanabi.errors import HanabiError
from hanabi.hybrid import HybridBridge, PrefixInteraction
from hanabi.infra.channels import ChannelDirectory
from hanabi.infra.cluster import HEARTBEAT_SECONDS, Cluster, ProcessStatus, ShardStatus
from hanabi.infra.entities import skip_interaction_response_messages
from hanabi.infra.intake import EventIntake
from hanabi.infra.metrics import Metrics, MetricsServer
from hanabi.infra.observability import Observability
from hanabi.infra.rest import answer_interactions_directly
from hanabi.services.guild_settings import GuildSettingsService
from hanabi.ui.errors import InteractionExpired, error_reply, interaction_expired
from hanabi.ui.hooks import plain_hook
from hanabi.ui.router import InteractionRouter
from hanabi.wiring import precompile_command_injection, register_dependencies, resolve

if TYPE_CHECKING:
    from container import Container  # built by the entrypoint; the bot only receives it
    from hanabi.web.server import DashboardServer  # web dashboard (issue 13)

log = logging.getLogger(__name__)
# One INFO line per command invocation (guild, user, command, outcome, duration; never content or tokens).
command_log = logging.getLogger("hanabi.commands")

# Only what the features use. MESSAGE_CONTENT is privileged and optional (prefix commands, automod).
BASE_INTENTS = (
    hikari.Intents.GUILDS
    | hikari.Intents.GUILD_MESSAGES
    | hikari.Intents.GUILD_VOICE_STATES
    | hikari.Intents.DM_MESSAGES
    | hikari.Intents.GUILD_MODERATION
)

# Cache only what features read: guilds (counts, owner), roles (permission checks), our own user, and voice
# states (music). Of members only the bot's own (only_my_member below) and those in voice: interactions and
# messages carry the member. Channels are not cached from GUILD_CREATE: hanabi.infra.channels fetches the few a
# feature needs. Per-guild cost in docs/benchmarks.md (memory).
CACHE_COMPONENTS = (
    hikari.api.CacheComponents.GUILDS
    | hikari.api.CacheComponents.ROLES
    | hikari.api.CacheComponents.ME
    | hikari.api.CacheComponents.VOICE_STATES
    | hikari.api.CacheComponents.MEMBERS
)


def intents_for(settings: Settings) -> hikari.Intents:
    intents = BASE_INTENTS
    if settings.message_content_intent:
        intents |= hikari.Intents.MESSAGE_CONTENT
    return intents


def extension_names() -> list[str]:
    """Every module in the `extensions` package, in a stable order."""
    return sorted(
        f"{extensions.__name__}.{module.name}"
        for module in pkgutil.iter_modules(extensions.__path__)
        if not module.name.startswith("_")
    )


@dataclass(slots=True)
class BotInfo:
    """Facts about this running process that /about and the startup line report."""

    version: str
    started_monotonic: float
    database_kind: str
    database_description: str
    bus_kind: str
    music: str = "disabled: no node configured"
    ready_shards: set[int] = field(default_factory=set)
    guilds_at_ready: dict[int, int] = field(default_factory=dict)

    def uptime(self) -> float:
        return time.monotonic() - self.started_monotonic


class StartupError(HanabiError):
    """Startup failed for a reason the operator can fix; the message says which setting or service to check."""


def _resource_errors() -> tuple[type[Exception], ...]:
    """What opening the database, Redis or a bundled server raises when it is unreachable or refuses us."""
    errors: tuple[type[Exception], ...] = (OSError, asyncpg.PostgresError, subprocess.SubprocessError, TimeoutError)
    if "redis.exceptions" in sys.modules:  # imported with the first Redis client: no RedisError exists before
        from redis.exceptions import RedisError

        errors += (RedisError,)
    return errors


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class FleetGatewayBot(hikari.GatewayBot):
    """A GatewayBot that takes a fleet-wide identify slot before each shard connects.

    hikari paces identifies within one process; across processes `Cluster.identify_slot` (a Redis lock per
    `shard_id % max_concurrency` bucket) keeps the whole fleet within Discord's limit.
    """

    cluster: Cluster | None = None
    _max_concurrency: int | None = None

    async def _start_one_shard(self, **kwargs: Any) -> None:
        if self.cluster is None:
            await super()._start_one_shard(**kwargs)
            return
        if self._max_concurrency is None:
            info = await self.rest.fetch_gateway_bot_info()
            self._max_concurrency = max(1, info.session_start_limit.max_concurrency)
        async with self.cluster.identify_slot(int(kwargs["shard_id"]) % self._max_concurrency):
            await super()._start_one_shard(**kwargs)


class Hanabi:
    """One bot process: start() brings everything up in order, close() takes it down in reverse."""

    def __init__(self, settings: Settings, container: Container) -> None:
        self.settings = settings
        self.container = container
        self.metrics: Metrics = container.metrics()
        self.ops = Observability(self.metrics)  # REST/gateway/pool/loop-lag metrics (hanabi.infra.observability)
        self._inflight: dict[int, float] = {}  # interaction id -> perf_counter at dispatch
        # hikari closes every REST connection after one request by default (a Windows workaround): a new
        # TCP (and TLS) handshake per call. Keep-alive cut /balance latency several-fold (docs/benchmarks.md).
        http_settings = hikari.impl.HTTPSettings(force_close_transports=not settings.http_keepalive)
        self.bot = FleetGatewayBot(
            settings.discord_token.get_secret_value(),
            rest_url=settings.discord_rest_url,
            intents=intents_for(settings),
            # only_my_member: of all members in GUILD_CREATE keep the bot's own (automod's role-hierarchy check);
            # members in voice still come with their voice state. 103 -> 22 KiB per 100-member guild.
            cache_settings=hikari.impl.CacheSettings(components=CACHE_COMPONENTS, only_my_member=True),
            http_settings=http_settings,
            logs=None,  # logging is configured by Hanabi, with token redaction
            banner=None,
            suppress_optimization_warning=True,
        )
        skip_interaction_response_messages(self.bot.entity_factory)
        # Interaction answers over connections of their own: a fifth to a quarter less CPU per command
        # (hanabi.infra.rest).
        self.callbacks: InteractionCallbacks | None = None
        if settings.direct_interaction_answers:
            self.callbacks = InteractionCallbacks(
                settings.discord_rest_url,
                f"DiscordBot ({hikari.__url__}, {hikari.__version__}) Hanabi/{__version__}",
                http_settings.ssl,
            )
            answer_interactions_directly(
                self.bot.rest,
                self.callbacks,
                on_attempt=self.ops.record_rest,
                on_answer=self.ops.observe_interaction_response,
                on_fallback=self.ops.record_answer_fallback,
            )
        # Before lightbulb and miru subscribe: counts dispatches, drops our own messages and expired interactions.
        self.intake = EventIntake()
        self.intake.install(self.bot.event_manager)
        self.client = lightbulb.client_from_app(
            self.bot,
            default_enabled_guilds=settings.dev_guild_ids,
            # Metrics first, then the per-user cooldown every command gets (hanabi.ui.cooldowns).
            hooks=[*self._metrics_hooks(), container.command_cooldowns().hook()],
        )
        # Components with a feature prefix (`poll:`, `help:`) are answered by that feature's route, not by a miru
        # view; without this miru would log a warning for a click on a view that has since timed out.
        self.miru = miru.Client(self.bot, ignore_unknown_interactions=True)
        self.router = InteractionRouter(self.bot, self.miru)
        self.channels = ChannelDirectory(self.bot.rest)
        self.channels.attach(self.bot)
        self.info: BotInfo | None = None
        self.hybrid: HybridBridge | None = None
        self.cluster: Cluster | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self.metrics_server: MetricsServer | None = None
        self.dashboard_server: DashboardServer | None = None  # web dashboard (issue 13)
        self._client_started = asyncio.Event()
        self._started = False

    # lifecycle -------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Resources, metrics server, extensions, then the gateway. Raises on failure after cleaning up."""
        try:
            await self._start()
        except BaseException:
            try:
                await self.close()
            except Exception:
                # The startup error is what the operator needs; a follow-on error while tidying up is noise.
                log.debug("error while closing after a failed start", exc_info=True)
            raise

    async def _start(self) -> None:
        self._started = True
        try:
            await self._init_resources()
        except _resource_errors() as exc:
            raise StartupError(
                f"Could not open the database or Redis ({_describe(exc)}). Check DATABASE_URL and REDIS_URL, "
                "and that those servers are running."
            ) from exc
        database = await resolve(self.container.database)
        self.info = BotInfo(
            version=__version__,
            started_monotonic=time.monotonic(),
            database_kind=database.kind,
            database_description=database.description,
            bus_kind=(await resolve(self.container.event_bus)).kind,
            music=(await resolve(self.container.music_backend)).description,
        )
        self.ops.database = database
        self.ops.attach(self.bot, self.intake)
        if self.settings.metrics_enabled:
            self.metrics_server = MetricsServer(
                self.metrics,
                self.settings.metrics_host,
                self.settings.metrics_port,
                self.readiness,
                before_scrape=self._refresh_gauges,
            )
            try:
                await self.metrics_server.start()
            except OSError as exc:
                raise StartupError(
                    f"Could not serve metrics on {self.settings.metrics_host}:{self.settings.metrics_port} "
                    f"({_describe(exc)}). Set METRICS_PORT to a free port, or METRICS_ENABLED=false."
                ) from exc
        if self.settings.dashboard_enabled and self.settings.web_in_bot:  # web dashboard (issue 13)
            from hanabi.web.server import start_dashboard

            self.dashboard_server = await start_dashboard(self.container, self.settings)

        register_dependencies(self.client, self.container, self)
        self.client.error_handler(self._on_command_error)
        await self.client.load_extensions(*extension_names())

        settings_service = await resolve(self.container.guild_settings_service)
        prefix_for, known_prefix_for = self._prefix_resolvers(settings_service)
        self.hybrid = HybridBridge(self.bot, self.client, prefix_for, self.channels, known_prefix_for=known_prefix_for)
        # From the raw gateway message: with no hikari listener for message events, hikari builds no Message for
        # the thousands that are not commands (hanabi.infra.gateway_messages).
        self.intake.on_message(self.hybrid.on_gateway_message)
        self.bot.subscribe(hikari.StartedEvent, self._on_started)
        self.bot.subscribe(hikari.ShardReadyEvent, self._on_shard_ready)
        self.cluster = await resolve(self.container.cluster)
        # Alone, hikari's own startup windows pace identifies; only a fleet needs the Redis slots (and the extra
        # GET /gateway/bot that finds the bucket count).
        self.bot.cluster = self.cluster if self.cluster.kind != "local" else None
        try:
            await self.bot.start(
                check_for_updates=False,
                shard_ids=self.settings.shard_ids or None,
                shard_count=self.settings.shard_count,
            )
        except hikari.UnauthorizedError:
            raise
        except (hikari.HTTPError, aiohttp.ClientError, OSError) as exc:
            raise StartupError(
                f"Could not reach Discord at {self.settings.discord_rest_url} ({_describe(exc)}). "
                "Check the network connection (and DISCORD_REST_URL)."
            ) from exc

    def _prefix_resolvers(
        self, settings_service: GuildSettingsService
    ) -> tuple[Callable[[int | None], Awaitable[str]], Callable[[int | None], str | None]]:
        """The prefix of a guild (None: direct messages), and the same without waiting: None when not loaded."""
        default = self.settings.command_prefix

        async def prefix_for(guild_id: int | None) -> str:
            if guild_id is None:
                return default
            return (await settings_service.get(guild_id)).prefix

        def known_prefix_for(guild_id: int | None) -> str | None:
            if guild_id is None:
                return default
            settings = settings_service.cached(guild_id)
            return settings.prefix if settings is not None else None

        return prefix_for, known_prefix_for

    async def _init_resources(self) -> None:
        # One at a time, in declaration order (dependencies first as needed): the first failure stops startup
        # with nothing else in flight, instead of dependency-injector's gather cancelling the others noisily.
        for provider in self.container.traverse(types=[providers.Resource]):
            result = provider.init()
            if inspect.isawaitable(result):
                await result

    async def close(self) -> None:
        if not self._started:
            return
        self._started = False
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        if self.hybrid is not None:
            await self.hybrid.close()
        if self.bot.is_alive:
            await self.bot.close()
        await self.client.stop()
        if self.callbacks is not None:
            await self.callbacks.close()
        if self.metrics_server is not None:
            await self.metrics_server.stop()
        if self.dashboard_server is not None:  # web dashboard (issue 13)
            await self.dashboard_server.stop()
        await self.ops.close()
        result = self.container.shutdown_resources()
        if result is not None:
            await result

    async def wait_until_ready(self) -> None:
        await self._client_started.wait()

    async def wait_until_guilds_loaded(self, *, quiet: float = 2.0) -> None:
        """Until every guild READY announced is cached, or none has arrived for `quiet` seconds (an outage)."""
        loop = asyncio.get_running_loop()
        last_count, last_change = -1, loop.time()
        while True:
            expected = sum(self.info.guilds_at_ready.values()) if self.info is not None else 0
            count = len(self.bot.cache.get_guilds_view())
            if self._client_started.is_set() and count >= expected:
                return
            if count != last_count:
                last_count, last_change = count, loop.time()
            elif loop.time() - last_change >= quiet:
                return
            await asyncio.sleep(0.25)

    async def readiness(self) -> tuple[bool, str]:
        if not self._client_started.is_set():
            return False, "gateway not ready"
        if not all(shard.is_alive and shard.is_connected for shard in self.bot.shards.values()):
            return False, "gateway disconnected"
        database = await resolve(self.container.database)
        if not await database.ping():
            return False, "database not answering"
        return True, "ok"

    def _refresh_gauges(self) -> None:
        for shard_id, shard in self.bot.shards.items():
            latency = shard.heartbeat_latency
            if math.isfinite(latency):  # NaN until the first heartbeat ACK
                self.metrics.gateway_latency.labels(shard=str(shard_id)).set(latency)
        self.metrics.guilds.set(len(self.bot.cache.get_guilds_view()))
        music = self.container.music_backend().health()
        self.metrics.lavalink_nodes.labels(state="available").set(music.available)
        self.metrics.lavalink_nodes.labels(state="unavailable").set(music.unavailable)
        self.metrics.music_players.set(music.players)
        for node, deficit in music.frame_deficit.items():
            self.metrics.lavalink_frame_deficit.labels(node=node).set(deficit)
        self.ops.refresh(self.bot, client_started=self._client_started.is_set())

    # events ----------------------------------------------------------------------------------------------------

    async def _on_shard_ready(self, event: hikari.ShardReadyEvent) -> None:
        if self.info is not None:
            self.info.ready_shards.add(event.shard.id)
            self.info.guilds_at_ready[event.shard.id] = len(event.unavailable_guilds)

    def process_status(self) -> ProcessStatus:
        """This process's shards as the rest of the fleet sees them."""
        shard_count = self.bot.shard_count or 1
        guilds: dict[int, int] = {}
        for guild_id in self.bot.cache.get_guilds_view():
            shard_id = (int(guild_id) >> 22) % shard_count
            guilds[shard_id] = guilds.get(shard_id, 0) + 1
        shards = []
        for shard_id, shard in sorted(self.bot.shards.items()):
            latency = shard.heartbeat_latency
            state = "ready" if shard.is_alive and shard.is_connected else "connecting" if shard.is_alive else "down"
            shards.append(
                ShardStatus(
                    shard_id=shard_id,
                    state=state,
                    latency_ms=round(latency * 1000, 1) if math.isfinite(latency) else None,
                    guilds=guilds.get(shard_id, 0),
                )
            )
        process_id = self.cluster.process_id if self.cluster is not None else "local"
        return ProcessStatus(
            process_id=process_id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            shard_count=shard_count,
            shards=shards,
            updated_at=time.time(),
        )

    async def _report_status_forever(self) -> None:
        cluster = self.cluster
        if cluster is None:
            return
        while True:
            await cluster.report(self.process_status())
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _on_started(self, _: hikari.StartedEvent) -> None:
        await self.client.start()
        precompile_command_injection(self.client)  # after sync: that is when lightbulb maps the commands
        if self.cluster is not None:
            await self.cluster.report(self.process_status())
            self._heartbeat = asyncio.create_task(self._report_status_forever(), name="hanabi-cluster-heartbeat")
        self._client_started.set()
        me = self.bot.get_me()
        info = self.info
        if info is not None:
            log.info(
                "Hanabi %s online as %s (%s): shards=%d guilds=%d database=%s bus=%s music=%s",
                info.version,
                me.username if me else "?",
                me.id if me else "?",
                self.bot.shard_count,
                sum(info.guilds_at_ready.values()),
                info.database_description if info.database_kind == "external" else "embedded",
                info.bus_kind,
                info.music,
            )

    # commands: metrics and the one error hook ---------------------------------------------------------------------

    def _metrics_hooks(self) -> list[lightbulb.ExecutionHook]:
        # Client-wide hooks run before a command's own hooks of the same step, so the timer starts first.
        def start_timer(_: lightbulb.ExecutionPipeline, ctx: lightbulb.Context) -> None:
            interaction = ctx.interaction
            # Shed here too: admitted in time, it may have waited behind the rest (prefix commands have no deadline).
            if not isinstance(interaction, PrefixInteraction) and self.intake.too_late_to_start(interaction.id):
                raise InteractionExpired
            self._inflight[interaction.id] = time.perf_counter()

        def record_success(_: lightbulb.ExecutionPipeline, ctx: lightbulb.Context) -> None:
            self._observe(ctx, "success")

        return [
            plain_hook(lightbulb.ExecutionSteps.MAX_CONCURRENCY, start_timer, name="metrics_start"),
            plain_hook(lightbulb.ExecutionSteps.POST_INVOKE, record_success, name="metrics_end", skip_when_failed=True),
        ]

    def _observe(self, ctx: lightbulb.Context, outcome: str) -> None:
        name = ctx.command_data.qualified_name
        started = self._inflight.pop(ctx.interaction.id, None)
        self.metrics.child(self.metrics.commands, name, outcome).inc()
        duration = time.perf_counter() - started if started is not None else None
        if duration is not None:
            self.metrics.child(self.metrics.command_duration, name).observe(duration)
        duration_ms = round(duration * 1000, 1) if duration is not None else None
        command_log.info(
            "command /%s %s in %s ms (guild %s, user %s)",
            name,
            outcome,
            duration_ms,
            ctx.guild_id,
            ctx.user.id,
            extra={
                "command": name,
                "outcome": outcome,
                "duration_ms": duration_ms,
                "guild_id": ctx.guild_id,
                "user_id": ctx.user.id,
            },
        )

    async def _on_command_error(self, exc: lightbulb.exceptions.ExecutionPipelineFailedException) -> bool:
        ctx = exc.context
        cause: BaseException = exc.causes[0] if exc.causes else exc
        if interaction_expired(cause):
            self._observe(ctx, "expired")
            self.intake.note_expired(
                "was too old when its command started"
                if isinstance(cause, InteractionExpired)
                else "was answered too late, and Discord refused the answer"
            )
            return True
        message, users_to_fix = error_reply(
            cause, what=f"command /{ctx.command_data.qualified_name}", guild_id=ctx.guild_id, user_id=ctx.user.id
        )
        self._observe(ctx, "refused" if users_to_fix else "error")
        try:
            await ctx.respond(
                message, ephemeral=True, mentions_everyone=False, user_mentions=False, role_mentions=False
            )
        except hikari.HTTPError as http_error:
            log.warning("could not deliver the error reply for /%s: %s", ctx.command_data.qualified_name, http_error)
        return True
