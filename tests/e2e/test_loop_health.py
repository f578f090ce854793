"""No blocking calls on the event loop: asyncio debug mode during an end-to-end run of several commands.

With `loop.set_debug(True)` asyncio logs "Executing <Handle ...> took 0.123 seconds" for every callback that
held the loop longer than `slow_callback_duration`; one such line here means something blocks the loop.
"""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from tests.harness.bot import RunningBot
from tests.harness.discord import FakeDiscord, FakeMember


class SlowCallbacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.slow: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Executing ") and " took " in message:
            self.slow.append(message)


@pytest.mark.asyncio
async def test_no_slow_callbacks_during_commands(
    bot: RunningBot, fake: FakeDiscord, alice: FakeMember, bob: FakeMember
) -> None:
    loop = asyncio.get_running_loop()
    watcher = SlowCallbacks()
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.addHandler(watcher)
    old_debug, old_threshold = loop.get_debug(), loop.slow_callback_duration
    # As the bot does once started (GC_TUNING, hanabi.infra.gcstats): what exists now is frozen, so a full
    # collection in the window walks new objects only, not this whole test process (pytest, the fake, ...).
    # Unfrozen, one such collection took 130-350 ms on a slow host and was reported as a blocking callback.
    gc.collect()
    gc.freeze()
    loop.set_debug(True)
    loop.slow_callback_duration = 0.1
    try:
        assert (await fake.slash("ping", user=alice)).type == 4
        assert (await fake.slash("daily", user=alice)).type == 4
        assert (await fake.slash("balance", user=alice)).type == 4
        assert (await fake.slash("pay", {"user": bob, "amount": 5}, user=alice)).type == 4
        poll = await fake.slash("poll create", {"question": "Lunch?", "options": "Pizza | Pasta"}, user=alice)
        vote = next(c for c in poll.custom_ids if ":vote:" in c)
        assert (await fake.click(poll, vote, user=bob)).type is not None
        assert (await fake.slash("help", user=alice)).type == 4
        assert (await fake.slash("about", user=alice)).type == 4
        for text in ("hello there", "how is everyone", "see discord.gg/abc"):
            await fake.say(text, author=bob)
        await fake.quiesce()
    finally:
        gc.unfreeze()
        loop.set_debug(old_debug)
        loop.slow_callback_duration = old_threshold
        asyncio_log.removeHandler(watcher)
    assert not watcher.slow, "callbacks blocked the event loop for more than 100 ms:\n" + "\n".join(watcher.slow)
