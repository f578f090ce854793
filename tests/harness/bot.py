"""Run the real Hanabi bot against the fake Discord: in the test's event loop, or as a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dependency_injector import providers

from container import Container
from hanabi.bot import Hanabi
from hanabi.config import Settings
from tests.harness.discord import FakeDiscord
from tests.harness.logs import LogWatcher


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_settings(fake: FakeDiscord, database_url: str | None, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "discord_token": fake.token,
        "discord_rest_url": fake.rest_url,
        "database_url": database_url,
        "data_dir": data_dir,
        "metrics_host": "127.0.0.1",
        "metrics_port": free_port(),
        "owner_ids": [fake.owner_id],
    }
    values.update(overrides)
    # _env_file=None: a developer's .env must never leak into tests.
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class RunningBot:
    app: Hanabi
    container: Container
    settings: Settings
    fake: FakeDiscord
    logs: LogWatcher

    @property
    def metrics_url(self) -> str:
        server = self.app.metrics_server
        if server is None:
            raise RuntimeError("metrics disabled")
        return f"http://127.0.0.1:{server.bound_port}"


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord,
    database_url: str | None,
    data_dir: Path,
    *,
    overrides: Mapping[str, Any] | None = None,
    wait_ready: bool = True,
    allow_errors: bool = False,
    prepare: Callable[[Hanabi], None] | None = None,
    **settings: Any,
) -> AsyncIterator[RunningBot]:
    """The real bot in this event loop.

    `overrides` maps container provider names to replacement objects; `prepare` runs before start, for tests
    that register extra commands or extensions of their own.
    """
    config = bot_settings(fake, database_url, data_dir, **settings)
    container = Container(settings=config)
    for name, value in (overrides or {}).items():
        getattr(container, name).override(providers.Object(value))
    watcher = LogWatcher()
    logging.getLogger().addHandler(watcher)
    app = Hanabi(config, container)
    if prepare is not None:
        prepare(app)
    try:
        await app.start()
        if wait_ready:
            await asyncio.wait_for(app.wait_until_ready(), 15)
        yield RunningBot(app, container, config, fake, watcher)
    finally:
        await app.close()
        logging.getLogger().removeHandler(watcher)
    if not allow_errors:
        problems = watcher.problems()
        assert not problems, "the bot logged errors:\n" + "\n".join(problems)


@dataclass
class BotProcess:
    process: asyncio.subprocess.Process
    metrics_port: int
    output: list[str] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        if self.process.stdout is None:
            return
        async for line in self.process.stdout:
            self.output.append(line.decode(errors="replace").rstrip())

    async def wait_for_line(self, fragment: str, timeout: float = 20) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            for line in self.output:
                if fragment in line:
                    return line
            if self.process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        raise AssertionError(f"no line with {fragment!r} in output:\n" + "\n".join(self.output))

    async def exited(self, timeout: float = 20) -> int:
        """Wait for the process to end by itself."""
        code = await asyncio.wait_for(self.process.wait(), timeout)
        if self._reader is not None:
            await self._reader
        return code

    async def terminate(self, timeout: float = 10) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), timeout)
        if self._reader is not None:
            await self._reader
        return code

    @property
    def text(self) -> str:
        return "\n".join(self.output)


async def start_bot_process(env: Mapping[str, str], *, cwd: Path) -> BotProcess:
    """`python -m hanabi` with exactly this environment (plus PATH/HOME), stdout and stderr merged."""
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "XDG_RUNTIME_DIR") if key in os.environ}
    port_text = env.get("METRICS_PORT", str(free_port()))
    port = int(port_text) if port_text.isdigit() else 0
    full_env = {**base, "METRICS_PORT": port_text, "PYTHONUNBUFFERED": "1", **env}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hanabi",
        cwd=cwd,
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    bot = BotProcess(process, port)
    bot._reader = asyncio.create_task(bot._read())
    return bot
