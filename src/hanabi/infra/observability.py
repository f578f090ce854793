"""Operational metrics that watch hikari from the outside: REST traffic, gateway events, rate limits, loop lag.

hikari has no public hook for its REST requests or its rate-limit waits, so:

- REST requests are seen through an aiohttp client middleware added to the session of hikari's REST client once
  it exists (``StartingEvent``). That also shows every initial interaction response (``POST
  /interactions/{id}/{token}/callback``), whose delay since the interaction's snowflake time is what Discord's
  3-second limit measures.
- A 429 answer is counted by that middleware (hikari then sleeps and retries); waits that hikari's bucket manager
  takes *before* sending (an exhausted bucket, the global limit) are only visible in hikari's
  ``hikari.ratelimits`` log, so a filter on that logger counts them (and still shows the records only at the
  level that logger is configured for). The logger is process-wide: several bots in one process all count them.
- Gateway events and expired interactions are counted by `hanabi.infra.intake.EventIntake`, where the shards hand
  dispatches to hikari's event manager, and published here at scrape time.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import weakref
from typing import TYPE_CHECKING

import aiohttp
import hikari

from hanabi.infra.intake import LATE_INTERACTION_SECONDS, EventIntake, snowflake_seconds

if TYPE_CHECKING:
    from hanabi.infra.db.database import Database
    from hanabi.infra.metrics import Metrics

log = logging.getLogger(__name__)

REST_LATENCY_WEIGHT = 0.2  # of each new REST round trip in the moving average /ping shows
_CALLBACK_SUFFIX = "/callback"  # POST .../interactions/<id>/<token>/callback: the answer to an interaction
_INVALID_STATUSES = frozenset({401, 403, 429})
RATELIMIT_LOGGER = "hikari.ratelimits"


class RateLimitLogWatch(logging.Filter):
    """A filter on ``hikari.ratelimits`` that counts hikari's rate-limit waits for every subscribed bot.

    The logger is set to DEBUG so hikari creates the records; this filter then lets through only records at or
    above ``threshold`` (the level the logger would otherwise have), so nothing extra reaches the handlers.
    """

    _BUCKET = "you are being rate limited on bucket"
    _GLOBAL = "you are being globally rate limited"

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold
        self.subscribers: weakref.WeakSet[Observability] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        kind = "bucket" if message.startswith(self._BUCKET) else "global" if message.startswith(self._GLOBAL) else None
        if kind is not None:
            for subscriber in list(self.subscribers):
                subscriber.metrics.rest_ratelimit_waits.labels(kind=kind).inc()
        return record.levelno >= self.threshold


def ratelimit_watch(threshold: int | None = None) -> RateLimitLogWatch:
    """The one watch on the ``hikari.ratelimits`` logger, installed on first use.

    ``threshold`` (from logging configuration) sets which of its records are shown; without it the logger's level
    at installation is kept (INFO when none was set).
    """
    logger = logging.getLogger(RATELIMIT_LOGGER)
    for existing in logger.filters:
        if isinstance(existing, RateLimitLogWatch):
            if threshold is not None:
                existing.threshold = threshold
            return existing
    if threshold is None:
        threshold = logger.level if logger.level != logging.NOTSET else max(logging.INFO, logger.getEffectiveLevel())
    watch = RateLimitLogWatch(threshold)
    logger.addFilter(watch)
    logger.setLevel(logging.DEBUG)
    return watch


class LoopLagMonitor:
    """Sleeps `interval` seconds in a loop and records how much later than asked it woke up."""

    def __init__(self, metrics: Metrics, interval: float = 0.25) -> None:
        self._metrics = metrics
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._max = 0.0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="hanabi loop-lag monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def take_max(self) -> None:
        """Publish the largest lag since the previous call (called at scrape time)."""
        self._metrics.loop_lag_max.set(self._max)
        self._max = 0.0

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self._interval)
            lag = max(0.0, loop.time() - before - self._interval)
            self._metrics.loop_lag.set(lag)
            self._max = max(self._max, lag)


class Observability:
    """Everything one Hanabi instance measures about hikari, its pool and its event loop."""

    def __init__(self, metrics: Metrics, *, loop_lag_interval: float = 0.25) -> None:
        self.metrics = metrics
        self.database: Database | None = None
        self.loop_lag = LoopLagMonitor(metrics, loop_lag_interval)
        self._bot: hikari.GatewayBot | None = None
        self._rest_latency: float | None = None
        self._intake: EventIntake | None = None  # set by attach()
        self._expired_published = 0
        self._gateway_published: collections.Counter[str] = collections.Counter()

    def rest_latency(self) -> float | None:
        """Recent Discord REST round trips in seconds (a moving average), None before the first one.

        /ping reports this instead of making a request of its own: it answers from memory.
        """
        return self._rest_latency

    # lifecycle ---------------------------------------------------------------------------------------------------

    def attach(self, bot: hikari.GatewayBot, intake: EventIntake) -> None:
        """Subscribe to `bot` before it starts; starts the loop-lag monitor."""
        self._bot = bot
        self._intake = intake
        bot.subscribe(hikari.StartingEvent, self._on_starting)
        bot.subscribe(hikari.ShardDisconnectedEvent, self._on_disconnected)
        ratelimit_watch().subscribers.add(self)
        self.loop_lag.start()

    async def close(self) -> None:
        ratelimit_watch().subscribers.discard(self)
        await self.loop_lag.stop()

    def refresh(self, bot: hikari.GatewayBot, *, client_started: bool) -> None:
        """Read at scrape time: shard state, readiness, pool sizes, the loop-lag maximum, gateway event counts."""
        all_connected = bool(bot.shards)
        for shard_id, shard in bot.shards.items():
            connected = shard.is_alive and shard.is_connected
            all_connected = all_connected and connected
            self.metrics.gateway_connected.labels(shard=str(shard_id)).set(1 if connected else 0)
        self.metrics.ready.set(1 if client_started and all_connected else 0)
        if self.database is not None:
            pool = self.database.pool
            self.metrics.db_pool_size.set(pool.get_size())
            self.metrics.db_pool_idle.set(pool.get_idle_size())
            self.metrics.db_pool_max.set(pool.get_max_size())
        self.loop_lag.take_max()
        self._publish_gateway_events()

    # hikari events -----------------------------------------------------------------------------------------------

    async def _on_starting(self, _: hikari.StartingEvent) -> None:
        # hikari's REST client creates its aiohttp session in start(), just before dispatching StartingEvent.
        session = getattr(self._bot.rest, "_client_session", None) if self._bot is not None else None
        if not isinstance(session, aiohttp.ClientSession):
            log.warning("hikari's REST session is not reachable; Discord REST metrics are off")
            return
        # A client middleware, not a TraceConfig: aiohttp's trace builds a context and sends seven signals per
        # request whether anyone listens or not, about 25 µs against 2 µs (docs/benchmarks.md, section 30).
        # aiohttp takes middlewares in the session's constructor, which hikari calls, so the tuple is extended.
        middlewares: tuple[aiohttp.ClientMiddlewareType, ...] = tuple(session._middlewares)
        if self._measure_rest not in middlewares:
            session._middlewares = (*middlewares, self._measure_rest)

    def _publish_gateway_events(self) -> None:
        if self._intake is None:
            return
        expired = self._intake.interactions_expired
        if expired > self._expired_published:
            self.metrics.interactions_expired.inc(expired - self._expired_published)
            self._expired_published = expired
        for name, count in list(self._intake.counts.items()):
            new = count - self._gateway_published[name]
            if new:
                self.metrics.child(self.metrics.gateway_events, name).inc(new)
                self._gateway_published[name] = count

    async def _on_disconnected(self, event: hikari.ShardDisconnectedEvent) -> None:
        self.metrics.gateway_disconnects.labels(shard=str(event.shard.id)).inc()

    # REST ---------------------------------------------------------------------------------------------------------

    async def _measure_rest(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        """Every attempt hikari sends (a retry after a 429 too): count, time, and spot interaction answers."""
        started = time.perf_counter()
        method = request.method
        if method == "POST":
            # The raw path: no percent-decoding, and a string test before any parsing (every REST call comes here).
            path = request.url.raw_path
            if path.endswith(_CALLBACK_SUFFIX):
                parts = path.rsplit("/", 4)
                if len(parts) == 5 and parts[1] == "interactions" and parts[2].isdigit():
                    self.observe_interaction_response(int(parts[2]), time.time())
        response = await handler(request)
        self.record_rest(method, response.status, time.perf_counter() - started)
        return response

    def record_rest(self, method: str, status: int, took: float) -> None:
        """One REST attempt (also called for interaction answers sent outside aiohttp, `hanabi.infra.rest`)."""
        self.metrics.child(self.metrics.rest_requests, method, str(status)).inc()
        if status in _INVALID_STATUSES:
            self.metrics.rest_invalid_requests.inc()
        if status == 429:
            self.metrics.rest_ratelimit_waits.labels(kind="response").inc()
        self.metrics.child(self.metrics.rest_duration, method).observe(took)
        previous = self._rest_latency
        self._rest_latency = took if previous is None else previous + REST_LATENCY_WEIGHT * (took - previous)

    def record_answer_fallback(self, reason: str) -> None:
        """An interaction answer went through hikari instead of Hanabi's own connections (`hanabi.infra.rest`)."""
        self.metrics.child(self.metrics.interaction_answer_fallbacks, reason).inc()

    def observe_interaction_response(self, interaction_id: int, now: float) -> None:
        delay = max(0.0, now - snowflake_seconds(interaction_id))
        self.metrics.interaction_response.observe(delay)
        if delay > LATE_INTERACTION_SECONDS:
            self.metrics.interactions_late.inc()
            log.warning("interaction %s answered after %.2f s (Discord allows 3 s)", interaction_id, delay)
