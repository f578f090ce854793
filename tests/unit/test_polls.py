"""Poll input parsing and the live-update throttle."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import pytest

from hanabi.errors import InvalidInput
from hanabi.services.polls import LiveUpdates, parse_duration, parse_options


def test_options_are_split_trimmed_and_checked() -> None:
    assert parse_options(" Pizza |Pasta|  Salad ") == ["Pizza", "Pasta", "Salad"]
    assert parse_options("a | | b") == ["a", "b"]
    with pytest.raises(InvalidInput, match="at least 2"):
        parse_options("one")
    with pytest.raises(InvalidInput, match="at most 25"):
        parse_options("|".join(str(i) for i in range(26)))
    with pytest.raises(InvalidInput, match="appears twice"):
        parse_options("Tea | TEA")
    with pytest.raises(InvalidInput, match="at most 80"):
        parse_options("a | " + "b" * 81)
    assert len(parse_options("|".join(str(i) for i in range(25)))) == 25


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1D 30M", timedelta(days=1, minutes=30)),
        ("30d", timedelta(days=30)),
        ("1m", timedelta(minutes=1)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "5", "30s", "31d", "1d13h 30m x", "-5m", "29d24h1m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_duration(text)


@pytest.mark.asyncio
async def test_live_updates_coalesce_a_burst_and_always_run_after_the_last_trigger() -> None:
    runs: list[float] = []
    loop = asyncio.get_running_loop()

    async def action(key: int) -> None:
        runs.append(loop.time())

    live = LiveUpdates(interval=0.2)
    live.bind(action)
    for _ in range(50):
        live.trigger(1)
        await asyncio.sleep(0.01)  # a 0.5 s burst
    await asyncio.sleep(0.5)
    assert 2 <= len(runs) <= 4
    assert all(b - a >= 0.2 for a, b in itertools.pairwise(runs))
    assert runs[-1] >= loop.time() - 0.5  # one run came after the burst ended
    await asyncio.sleep(0.3)
    assert live.active == 0  # idle keys are forgotten


@pytest.mark.asyncio
async def test_drain_runs_pending_changes_once_and_stops_timers() -> None:
    calls: list[int] = []

    async def action(key: int) -> None:
        calls.append(key)

    live = LiveUpdates(interval=10, rate=1000)
    live.bind(action)
    live.trigger(7)
    await asyncio.sleep(0.01)
    live.trigger(7)  # inside the interval: waits
    live.trigger(8)
    await asyncio.sleep(0.01)
    assert calls == [7, 8]
    await live.drain()
    assert calls == [7, 8, 7]
    assert live.active == 0


@pytest.mark.asyncio
async def test_at_most_concurrency_actions_run_at_once_and_every_key_gets_its_run() -> None:
    running = peak = 0
    done: list[int] = []

    async def action(key: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        done.append(key)

    live = LiveUpdates(interval=10, concurrency=3, rate=10_000)
    live.bind(action)
    for key in range(30):  # thirty polls come due at once
        live.trigger(key)
    await asyncio.sleep(0.3)
    assert peak == 3
    assert sorted(done) == list(range(30))


@pytest.mark.asyncio
async def test_refreshes_of_many_polls_due_together_are_spread_at_the_rate() -> None:
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def action(key: int) -> None:
        starts.append(loop.time())

    live = LiveUpdates(interval=10, concurrency=4, rate=50)  # one start every 20 ms
    live.bind(action)
    began = loop.time()
    for key in range(10):  # ten polls come due at once
        live.trigger(key)
    await asyncio.sleep(0.05)
    assert 2 <= len(starts) <= 4  # not all ten back to back
    await asyncio.sleep(0.3)
    assert len(starts) == 10
    assert all(b - a >= 0.019 for a, b in itertools.pairwise(starts))
    assert starts[-1] - began >= 0.18
