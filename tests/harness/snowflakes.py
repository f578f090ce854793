"""Realistic, unique Discord snowflakes for the fake server."""

from __future__ import annotations

import datetime
import threading
import time

DISCORD_EPOCH_MS = 1_420_070_400_000  # 2015-01-01T00:00:00Z


class SnowflakeFactory:
    """Generates timestamp-based snowflakes: ``(ms_since_2015 << 22) | increment``.

    Ids are strictly increasing, so ordering by id matches creation order (Discord guarantees the same), and
    ``(guild_id >> 22) % shard_count`` shard routing behaves like it does for real ids.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()  # cheap insurance: tests may create world objects from other threads

    def next(self) -> int:
        with self._lock:
            candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
            # Same millisecond (or clock going backwards): bump the increment instead of repeating an id.
            self._last = max(candidate, self._last + 1)
            return self._last

    def next_matching(self, shard_id: int, shard_count: int) -> int:
        """An id that routes to ``shard_id``; lets tests place a guild on a given shard."""
        while True:
            value = self.next()
            if (value >> 22) % shard_count == shard_id:
                return value
            # Jump to the next millisecond so the shard bits actually change.
            with self._lock:
                self._last = ((self._last >> 22) + 1) << 22


def snowflake_time(snowflake: int) -> datetime.datetime:
    """Creation time encoded in a snowflake."""
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
