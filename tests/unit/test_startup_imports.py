"""Startup without REDIS_URL must not import redis-py (about 90 ms of the bot's startup)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

STARTUP_MODULES = [
    "container",
    "hanabi.bot",
    "hanabi.cli",
    "extensions.economy",
    "extensions.moderation",
    "extensions.polls",
    "extensions.music",
    "extensions.meta",
    "extensions.help",
    "extensions.scheduler",
    "extensions.integrations",
    "extensions.settings",
]


def test_startup_does_not_import_redis() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {STARTUP_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'redis' or m.startswith('redis.')))\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"redis was imported at startup: {result.stdout.strip()}"
