"""Prometheus metrics and the health endpoints, served by one small aiohttp app."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[tuple[bool, str]]]


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
