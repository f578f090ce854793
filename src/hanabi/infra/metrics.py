"""Prometheus metrics and the health endpoints, served by one small aiohttp app."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[tuple[bool, str]]]
LabelledMetric = TypeVar("LabelledMetric", Counter, Gauge, Histogram)


class Metrics:
    """All of Hanabi's metrics on one registry per bot instance (tests run several bots in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.commands = Counter("hanabi_commands", "Commands invoked", ["command", "outcome"], registry=self.registry)
        self.command_duration = Histogram(
            "hanabi_command_duration_seconds",
            "Time from command dispatch to the end of its handler",
            ["command"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.gateway_latency = Gauge(
            "hanabi_gateway_latency_seconds", "Heartbeat round trip per shard", ["shard"], registry=self.registry
        )
        self.guilds = Gauge("hanabi_guilds", "Guilds this process serves", registry=self.registry)
        # Feature metrics: scheduler, automod, music.
        self.scheduler_runs = Counter(
            "hanabi_scheduler_runs",
            "Announcement and reminder runs by outcome (sent, failed, paused, skipped)",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.scheduler_missed = Counter(
            "hanabi_scheduler_missed_runs",
            "Runs claimed later than their time plus one poll interval (downtime or a slow pass)",
            registry=self.registry,
        )
        self.automod_actions = Counter(
            "hanabi_automod_actions",
            "Automod actions taken, by rule and action (dry-run verdicts count as action=dry_run)",
            ["rule", "action"],
            registry=self.registry,
        )
        self.lavalink_nodes = Gauge(
            "hanabi_lavalink_nodes", "Configured Lavalink nodes by state", ["state"], registry=self.registry
        )
        self.music_players = Gauge("hanabi_music_players", "Music players on this process", registry=self.registry)
        self.lavalink_frame_deficit = Gauge(
            "hanabi_lavalink_frame_deficit",
            "Audio frames missing per minute on each Lavalink node (stutter)",
            ["node"],
            registry=self.registry,
        )
        # --- integrations (issue 7): upstream APIs (weather, translation, Wikipedia) ---
        self.upstream_requests = Counter(
            "hanabi_upstream_requests",
            "HTTP attempts to upstream APIs (outcome: ok, retry, timeout, http_<status>, skipped, ...)",
            ["upstream", "outcome"],
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "hanabi_upstream_errors", "Upstream failures by reason", ["upstream", "reason"], registry=self.registry
        )
        self.upstream_latency = Histogram(
            "hanabi_upstream_duration_seconds",
            "Time of one HTTP attempt to an upstream API",
            ["upstream"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.upstream_cache = Counter(
            "hanabi_upstream_cache",
            "Upstream cache look-ups by kind (hit/miss)",
            ["kind", "result"],
            registry=self.registry,
        )
        # --- operations (issue 11): Discord REST and gateway, interactions, database pool, process ---
        self.ready = Gauge(
            "hanabi_ready", "1 when the client has started and every shard is connected", registry=self.registry
        )
        self.gateway_connected = Gauge(
            "hanabi_gateway_connected", "1 while the shard's websocket is connected", ["shard"], registry=self.registry
        )
        self.gateway_disconnects = Counter(
            "hanabi_gateway_disconnects", "Gateway websocket disconnects per shard", ["shard"], registry=self.registry
        )
        self.gateway_events = Counter(
            "hanabi_gateway_events", "Gateway dispatch events received, by type", ["event"], registry=self.registry
        )
        self.interaction_response = Histogram(
            "hanabi_interaction_response_seconds",
            "Time from an interaction's creation (its snowflake) to our initial response",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 5),
            registry=self.registry,
        )
        self.interactions_late = Counter(
            "hanabi_interactions_late",
            "Interactions whose initial response was sent more than 2.5 s after they were created",
            registry=self.registry,
        )
        self.interactions_expired = Counter(
            "hanabi_interactions_expired",
            "Interactions left unanswered because they could no longer be answered in time: older than 2.5 s when"
            " dispatched (shed under overload), or refused by Discord as unknown when answered",
            registry=self.registry,
        )
        self.interaction_answer_fallbacks = Counter(
            "hanabi_interaction_answer_fallbacks",
            "Interaction answers handed to hikari's REST client instead of Hanabi's own connections, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.rest_requests = Counter(
            "hanabi_rest_requests",
            "Discord REST responses by method and status",
            ["method", "status"],
            registry=self.registry,
        )
        self.rest_invalid_requests = Counter(
            "hanabi_rest_invalid_requests",
            "Discord REST responses that count toward the invalid-request limit (401, 403, 429)",
            registry=self.registry,
        )
        self.rest_duration = Histogram(
            "hanabi_rest_request_duration_seconds",
            "Time of one Discord REST request",
            ["method"],
            buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.rest_ratelimit_waits = Counter(
            "hanabi_rest_ratelimit_waits",
            "Times hikari waited for a Discord rate limit (kind: response = a 429, bucket, global)",
            ["kind"],
            registry=self.registry,
        )
        self.db_pool_size = Gauge("hanabi_db_pool_size", "Open connections in the asyncpg pool", registry=self.registry)
        self.db_pool_idle = Gauge("hanabi_db_pool_idle", "Idle connections in the asyncpg pool", registry=self.registry)
        self.db_pool_max = Gauge("hanabi_db_pool_max", "Largest size of the asyncpg pool", registry=self.registry)
        self.loop_lag = Gauge(
            "hanabi_event_loop_lag_seconds", "How late the event loop ran a timer (last check)", registry=self.registry
        )
        self.loop_lag_max = Gauge(
            "hanabi_event_loop_lag_max_seconds", "Largest event-loop lag since the last scrape", registry=self.registry
        )
        # process_resident_memory_bytes, process_cpu_seconds_total, process_open_fds, ... (Linux /proc)
        ProcessCollector(registry=self.registry)
        self._children: dict[tuple[int, tuple[str, ...]], Counter | Gauge | Histogram] = {}

    def child(self, metric: LabelledMetric, *values: str) -> LabelledMetric:
        """`metric.labels(*values)`, looked up once per label set.

        `labels()` validates its arguments and takes a lock on every call: about 3 % of the bot's CPU when each
        command and REST request called it (docs/benchmarks.md). Hot paths use this; label sets are few (command
        names, outcomes, methods, statuses, event types).
        """
        key = (id(metric), values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found  # type: ignore[return-value]  # the same type as `metric`, by construction

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer:
    """`/metrics`, `/healthz` (process alive) and `/readyz` (gateway connected and database answering)."""

    def __init__(
        self,
        metrics: Metrics,
        host: str,
        port: int,
        readiness: ReadinessCheck,
        before_scrape: Callable[[], None] | None = None,
    ) -> None:
        self._metrics = metrics
        self._before_scrape = before_scrape
        self._host = host
        self._port = port
        self._readiness = readiness
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics_handler)
        app.router.add_get("/healthz", self._health)
        app.router.add_get("/readyz", self._ready)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self._port
        log.info("metrics and health on http://%s:%s", self._host, self.bound_port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics_handler(self, _: web.Request) -> web.Response:
        if self._before_scrape is not None:
            self._before_scrape()  # gauges that are cheaper to read at scrape time than to keep updated
        return web.Response(body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def _ready(self, _: web.Request) -> web.Response:
        ready, detail = await self._readiness()
        return web.json_response({"ready": ready, "detail": detail}, status=200 if ready else 503)
