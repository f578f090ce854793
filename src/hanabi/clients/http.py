"""What every upstream API client shares: timeouts, retries with backoff, a circuit breaker, validation, metrics.

Each client (weather, translation, Wikipedia) owns one `Upstream` built on the container's single
`aiohttp.ClientSession`. `Upstream.request` returns validated data or raises an `UpstreamError` whose
`user_message` is safe to show; nothing from aiohttp or pydantic leaks past this module.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from pydantic import TypeAdapter, ValidationError

from hanabi.errors import ServiceUnavailable
from hanabi.infra.clock import Clock
from hanabi.infra.metrics import Metrics

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_RETRIES = 2  # the most a request is retried, whatever the settings say
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class UpstreamError(ServiceUnavailable):
    """An upstream API failed; `user_message` names the service and what the user can do."""

    def __init__(self, user_message: str, *, upstream: str, reason: str) -> None:
        super().__init__(user_message)
        self.upstream = upstream
        self.reason = reason


class UpstreamUnavailable(UpstreamError):
    """Timed out, refused, 5xx/429 after retries, or skipped because the circuit breaker is open."""


class UpstreamMalformed(UpstreamError):
    """The upstream answered, but not with what its documentation promises."""


class UpstreamRejected(UpstreamError):
    """A 4xx other than 429: the request itself was refused (bad key, unsupported language, ...)."""

    def __init__(self, user_message: str, *, upstream: str, reason: str, status: int) -> None:
        super().__init__(user_message, upstream=upstream, reason=reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """Timeouts, retries and breaker thresholds; built from Settings by the container."""

    connect_timeout: float = 3.0
    total_timeout: float = 8.0
    max_retries: int = MAX_RETRIES
    backoff_base: float = 0.5
    backoff_cap: float = 5.0
    max_retry_after: float = 5.0  # a longer Retry-After is not waited for: the user gets the message at once
    breaker_threshold: int = 5
    breaker_cooldown: float = 60.0


def backoff_delay(attempt: int, base: float, cap: float, rng: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter on top: base * 2**attempt, plus up to one base, capped."""
    return float(min(cap, base * (2**attempt) + base * rng()))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


class CircuitBreaker:
    """Closed -> open after `threshold` consecutive failures -> half-open after `cooldown` seconds.

    While open, calls are refused at once. Half-open lets one trial call through: success closes the breaker,
    failure opens it for another cooling period. Time comes from the injected Clock.
    """

    def __init__(self, clock: Clock, threshold: int, cooldown: float) -> None:
        self._clock = clock
        self._threshold = max(1, threshold)
        self._cooldown = cooldown
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self._clock.monotonic() - self._opened_at >= self._cooldown:
            return "half-open"
        return "open"

    def retry_in(self) -> float:
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._cooldown - (self._clock.monotonic() - self._opened_at))

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        self._trial_running = False
        self._failures += 1
        if self._opened_at is not None or self._failures >= self._threshold:
            self._opened_at = self._clock.monotonic()


class Upstream:
    """One upstream API: a display name for messages, a breaker, and request/retry/validation logic."""

    def __init__(
        self,
        name: str,
        display_name: str,
        session: aiohttp.ClientSession,
        policy: HttpPolicy,
        *,
        clock: Clock,
        metrics: Metrics,
        sleep: Callable[[float], Any] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.name = name
        self.display_name = display_name
        self._session = session
        self._policy = policy
        self._metrics = metrics
        self._sleep = sleep
        self._rng = rng
        self.breaker = CircuitBreaker(clock, policy.breaker_threshold, policy.breaker_cooldown)

    # messages ----------------------------------------------------------------------------------------------------

    def _unavailable(self, reason: str) -> UpstreamUnavailable:
        self._metrics.upstream_errors.labels(upstream=self.name, reason=reason).inc()
        return UpstreamUnavailable(
            f"The {self.display_name} is not answering right now, try again in a minute.",
            upstream=self.name,
            reason=reason,
        )

    def malformed(self, detail: str) -> UpstreamMalformed:
        """For clients that find a semantic problem after validation; counts as a failure of the upstream."""
        self._metrics.upstream_errors.labels(upstream=self.name, reason="malformed").inc()
        log.warning("%s sent a malformed response: %s", self.name, detail)
        self.breaker.record_failure()
        return UpstreamMalformed(
            f"The {self.display_name} sent an answer I could not read. Try again in a little while.",
            upstream=self.name,
            reason="malformed",
        )

    # requests ----------------------------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        schema: TypeAdapter[T],
        *,
        params: Mapping[str, str | int | float] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        allow_not_found: bool = False,
    ) -> T | None:
        """Send with retries; validate the JSON body against `schema`. 404 gives None when `allow_not_found`."""
        if not self.breaker.allow():
            self._metrics.upstream_requests.labels(upstream=self.name, outcome="skipped").inc()
            raise self._unavailable("circuit_open")
        try:
            body = await self._send_with_retries(
                method, url, params=params, json=json, data=data, headers=headers, allow_not_found=allow_not_found
            )
        except UpstreamRejected:
            # The upstream is alive and said no: that is not a reason to stop asking it.
            self.breaker.record_success()
            raise
        except UpstreamError:
            self.breaker.record_failure()
            raise
        if body is None:
            self.breaker.record_success()
            return None
        try:
            value = schema.validate_json(body)
        except ValidationError as exc:
            raise self.malformed(f"{method} {_path(url)}: {exc.error_count()} validation errors") from None
        self.breaker.record_success()
        return value

    async def _send_with_retries(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int | float] | None,
        json: Any,
        data: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        allow_not_found: bool,
    ) -> bytes | None:
        policy = self._policy
        retries = max(0, min(policy.max_retries, MAX_RETRIES))
        timeout = aiohttp.ClientTimeout(total=policy.total_timeout, connect=policy.connect_timeout)
        attempt = 0
        while True:
            started = time.perf_counter()
            retry_after: float | None = None
            try:
                async with self._session.request(
                    method, url, params=params, json=json, data=data, headers=headers, timeout=timeout
                ) as response:
                    body = await response.read()
                    status = response.status
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
            except TimeoutError:
                # The whole budget is gone: retrying would only make the user wait longer.
                self._observe(started, "timeout")
                log.warning("%s timed out after %.1fs: %s %s", self.name, policy.total_timeout, method, _path(url))
                raise self._unavailable("timeout") from None
            except aiohttp.ClientError as exc:
                self._observe(started, "connection_error")
                reason = "connection_error"
                log.warning("%s connection failed (%s): %s %s", self.name, type(exc).__name__, method, _path(url))
            else:
                if 200 <= status < 300:
                    self._observe(started, "ok")
                    return body
                if status == 404 and allow_not_found:
                    self._observe(started, "not_found")
                    return None
                if status not in RETRY_STATUSES:
                    self._observe(started, f"http_{status}")
                    self._metrics.upstream_errors.labels(upstream=self.name, reason=f"http_{status}").inc()
                    log.warning("%s refused %s %s with HTTP %d", self.name, method, _path(url), status)
                    raise UpstreamRejected(
                        f"The {self.display_name} refused that request (HTTP {status}).",
                        upstream=self.name,
                        reason=f"http_{status}",
                        status=status,
                    )
                self._observe(started, f"http_{status}")
                reason = "rate_limited" if status == 429 else "server_error"
                log.warning("%s answered HTTP %d: %s %s", self.name, status, method, _path(url))
            if attempt >= retries:
                raise self._unavailable(reason)
            delay = backoff_delay(attempt, policy.backoff_base, policy.backoff_cap, self._rng)
            if retry_after is not None:
                if retry_after > policy.max_retry_after:
                    raise self._unavailable(reason)
                delay = max(delay, retry_after)
            attempt += 1
            self._metrics.upstream_requests.labels(upstream=self.name, outcome="retry").inc()
            await self._sleep(delay)

    def _observe(self, started: float, outcome: str) -> None:
        self._metrics.upstream_requests.labels(upstream=self.name, outcome=outcome).inc()
        self._metrics.upstream_latency.labels(upstream=self.name).observe(time.perf_counter() - started)


def _path(url: str) -> str:
    """The URL without its query string: keys and user text never reach the log."""
    return url.split("?", 1)[0]
