"""Fixtures for the operations tests: the fake Discord with one guild, and the external tools they run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import NoReturn

import pytest
import pytest_asyncio

from tests import services
from tests.harness.discord import FakeDiscord, FakeGuild

ROOT = Path(__file__).resolve().parents[2]


def tool_missing(message: str) -> NoReturn:
    """Skip outside CI; under CI=true a missing tool fails the run (`.ci/run` installs it)."""
    services.missing(message)


def find_tool(name: str) -> str | None:
    """A tool from the virtual environment beside this Python, else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        tool_missing("promtool is not installed (apt-get install prometheus)")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        tool_missing("prometheus is not installed (apt-get install prometheus)")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def action_validator() -> list[str]:
    """`@action-validator/cli` from ./node_modules, installed with `npm install --no-save` when missing."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    script = ROOT / "node_modules" / "@action-validator" / "cli" / "cli.mjs"
    if node is None:
        tool_missing("node is not installed; @action-validator/cli needs it")
    assert node is not None
    if not script.exists():
        if npm is None:
            tool_missing("npm is not installed; it installs @action-validator/cli")
        assert npm is not None
        result = subprocess.run(
            [
                npm,
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "@action-validator/cli@0.6.0",
                "@action-validator/core@0.6.0",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0 or not script.exists():
            tool_missing(f"npm could not install @action-validator/cli: {result.stderr.strip()[-300:]}")
    return [node, str(script)]


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    discord = FakeDiscord()
    discord.add_guild("Hanabi Ops Server")
    await discord.start()
    try:
        yield discord
    finally:
        await discord.stop()
    assert not discord.violations, "the bot broke Discord's rules:\n" + "\n".join(discord.violations)


@pytest.fixture
def guild(fake: FakeDiscord) -> FakeGuild:
    return next(iter(fake.guilds.values()))
