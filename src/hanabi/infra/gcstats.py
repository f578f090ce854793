"""Garbage-collector tuning after startup, and opt-in GC pause statistics for the benchmarks.

`tune_after_startup()` (setting GC_TUNING, on by default; run once the guilds READY announced have arrived)
moves everything built while starting (modules, commands, the cache filled by GUILD_CREATE) into the permanent
generation with `gc.freeze()`, so later full collections no longer walk it, and raises the thresholds so
short-lived per-event garbage is collected in fewer, still short, young-generation passes. Then it hands the
heap pages that startup garbage (the GUILD_CREATE payloads) left free back to the OS (`malloc_trim`, glibc).

`install_from_env()`: when HANABI_GC_STATS_FILE is set, every collection is timed through `gc.callbacks` and
`write()` saves the figures there as JSON at shutdown (`bench/gc_pauses.py` reads them). Off by default: nothing
is registered when the variable is unset.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import time
from collections import deque
from pathlib import Path
from typing import Any

STATS_ENV = "HANABI_GC_STATS_FILE"
# Fewer young collections (every 5,000 net allocations instead of 700), each still a few ms. Gen 1 every 10 of
# them (Python's default): at 1,500 interactions/s every 50 let it gather enough survivors for a 19 ms pause,
# every 10 keeps it under 7 ms (docs/benchmarks.md, section 33). The full collection runs far less often (it
# walks every long-lived object not frozen).
TUNED_THRESHOLDS = (5_000, 10, 1_000)


def tune_after_startup() -> bool:
    """Freeze, raise the thresholds, trim the heap; True when the heap could be trimmed."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*TUNED_THRESHOLDS)
    return release_free_memory()


def release_free_memory() -> bool:
    """Return the C heap's free pages to the OS; False where libc has no `malloc_trim` (musl, macOS).

    Parsing thousands of GUILD_CREATEs leaves free holes between the cached objects that RSS still counts;
    measured in docs/benchmarks.md (memory).
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
    return True


class GCStats:
    """Pause per collection: (wall-clock end, generation, seconds), the last 200,000 of them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pauses: deque[tuple[float, int, float]] = deque(maxlen=200_000)
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((time.time(), int(info["generation"]), time.perf_counter() - self._started))

    def write(self) -> None:
        by_generation: dict[str, dict[str, float]] = {}
        for generation in (0, 1, 2):
            durations = [p for _, g, p in self.pauses if g == generation]
            by_generation[str(generation)] = {
                "count": len(durations),
                "max_ms": round(max(durations, default=0.0) * 1000, 3),
                "total_ms": round(sum(durations) * 1000, 3),
            }
        body = {
            "thresholds": gc.get_threshold(),
            "frozen": gc.get_freeze_count(),
            "generations": by_generation,
            "pauses": [(round(t, 4), g, round(p * 1000, 3)) for t, g, p in self.pauses],
        }
        self.path.write_text(json.dumps(body), encoding="utf-8")


_installed: GCStats | None = None


def install_from_env() -> GCStats | None:
    global _installed  # noqa: PLW0603 - one process-wide collector hook
    path = os.environ.get(STATS_ENV)
    if not path or _installed is not None:
        return _installed
    _installed = GCStats(Path(path))
    gc.callbacks.append(_installed)
    return _installed


def write_stats() -> None:
    if _installed is not None:
        _installed.write()
