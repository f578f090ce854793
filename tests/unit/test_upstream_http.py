"""Backoff, Retry-After, the circuit breaker and the in-process cache: pure logic on a manual clock."""

from __future__ import annotations

import email.utils

import pytest

from hanabi.clients.http import CircuitBreaker, backoff_delay, parse_retry_after
from hanabi.errors import CooldownActive
from hanabi.infra.cache import MemoryCache
from hanabi.services.integrations import Cooldowns, locale_language_candidates, normalize
from tests.harness.clock import ManualClock


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    assert backoff_delay(0, 0.5, 10, rng=lambda: 0.0) == 0.5
    assert backoff_delay(1, 0.5, 10, rng=lambda: 0.0) == 1.0
    assert backoff_delay(2, 0.5, 10, rng=lambda: 0.0) == 2.0
    assert backoff_delay(1, 0.5, 10, rng=lambda: 0.999) == pytest.approx(1.4995)
    assert backoff_delay(10, 0.5, 3, rng=lambda: 0.5) == 3


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert parse_retry_after("7") == 7
    assert parse_retry_after(" 0 ") == 0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(30)
    assert parse_retry_after(email.utils.formatdate(999_000, usegmt=True), now=1_000_000) == 0


def test_breaker_opens_after_threshold_and_half_opens_after_cooldown() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(clock, threshold=3, cooldown=60)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state == "closed"
    breaker.record_failure()
    assert breaker.state == "open"
    assert not breaker.allow()
    assert breaker.retry_in() == 60
    clock.advance(seconds=59)
    assert not breaker.allow()
    clock.advance(seconds=1)
    assert breaker.state == "half-open"
    assert breaker.allow()  # one trial call ...
    assert not breaker.allow()  # ... and only one
    breaker.record_failure()  # the trial failed: open for another period
    assert breaker.state == "open"
    clock.advance(seconds=60)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed"
    assert breaker.allow()


def test_a_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(ManualClock(), threshold=2, cooldown=10)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"


@pytest.mark.asyncio
async def test_memory_cache_expires_entries_on_the_clock() -> None:
    clock = ManualClock()
    cache = MemoryCache(clock, max_entries=10)
    await cache.set("weather:1,2", "sunny", ttl=600)
    assert await cache.get("weather:1,2") == "sunny"
    clock.advance(seconds=599)
    assert await cache.get("weather:1,2") == "sunny"
    clock.advance(seconds=1)
    assert await cache.get("weather:1,2") is None
    assert len(cache) == 0


@pytest.mark.asyncio
async def test_memory_cache_is_bounded_and_drops_the_least_recently_used() -> None:
    cache = MemoryCache(ManualClock(), max_entries=2)
    await cache.set("a", "1", ttl=60)
    await cache.set("b", "2", ttl=60)
    assert await cache.get("a") == "1"  # a is now the most recently used
    await cache.set("c", "3", ttl=60)
    assert len(cache) == 2
    assert await cache.get("b") is None
    assert await cache.get("a") == "1"
    assert await cache.get("c") == "3"


def test_cooldowns_are_per_user_and_command_on_the_clock() -> None:
    clock = ManualClock()
    cooldowns = Cooldowns(clock, seconds=3)
    cooldowns.hit("weather", 1)
    cooldowns.hit("wiki", 1)
    cooldowns.hit("weather", 2)
    with pytest.raises(CooldownActive) as info:
        cooldowns.hit("weather", 1)
    assert info.value.until == pytest.approx(clock.now().timestamp() + 3)
    clock.advance(seconds=3)
    cooldowns.hit("weather", 1)


def test_normalized_keys_and_locale_languages() -> None:
    assert normalize("  New   YORK ") == "new york"
    assert locale_language_candidates("de") == ("de",)
    assert locale_language_candidates("pt-BR") == ("pt-br", "pt")
    assert locale_language_candidates("zh-CN") == ("zh-hans", "zh")
    assert locale_language_candidates("es-419") == ("es",)
