"""promtool accepts the Prometheus configuration and rules, and a real Prometheus scrapes a running bot."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.harness.bot import free_port, running_bot
from tests.harness.discord import FakeDiscord, FakeGuild
from tests.ops.conftest import ROOT

PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"


def test_promtool_checks_the_configuration_and_rules(promtool: str, tmp_path: Path) -> None:
    # Copied so promtool resolves `rule_files: [alerts.yml]` as Prometheus in the container does.
    for name in ("prometheus.yml", "alerts.yml"):
        shutil.copy(PROMETHEUS_DIR / name, tmp_path / name)
    for args in (["check", "config", "prometheus.yml"], ["check", "rules", "alerts.yml"]):
        result = subprocess.run(
            [promtool, *args], cwd=tmp_path, capture_output=True, text=True, check=False, timeout=60
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    text = (PROMETHEUS_DIR / "alerts.yml").read_text().replace("hanabi_ready == 0", "hanabi_ready == == 0")
    (tmp_path / "alerts.yml").write_text(text)
    result = subprocess.run([promtool, "check", "rules", "alerts.yml"], cwd=tmp_path, capture_output=True, check=False)
    assert result.returncode != 0


async def _query(http: aiohttp.ClientSession, base: str, expr: str) -> list[dict[str, Any]]:
    async with http.get(f"{base}/api/v1/query", params={"query": expr}) as response:
        body = await response.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


@pytest.mark.asyncio
async def test_a_real_prometheus_scrapes_the_bot_and_loads_the_alerts(
    prometheus_binary: str, fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path
) -> None:
    async with running_bot(fake, database_url, tmp_path / "bot") as running:
        await fake.slash("ping", guild=guild)
        target = running.metrics_url.removeprefix("http://")
        shutil.copy(PROMETHEUS_DIR / "alerts.yml", tmp_path / "alerts.yml")
        (tmp_path / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "rule_files:\n  - alerts.yml\n"
            f"scrape_configs:\n  - job_name: hanabi\n    static_configs:\n      - targets: ['{target}']\n"
        )
        port = free_port()
        log = (tmp_path / "prometheus.log").open("wb")
        process = await asyncio.create_subprocess_exec(
            prometheus_binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            stdout=log,
            stderr=log,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                ready: list[dict[str, Any]] = []
                commands: list[dict[str, Any]] = []
                for _ in range(150):  # up to 15 s: start-up plus a few 1 s scrapes
                    await asyncio.sleep(0.1)
                    if process.returncode is not None:
                        break
                    try:
                        ready = await _query(http, base, 'hanabi_ready{job="hanabi"}')
                        commands = await _query(http, base, 'hanabi_commands_total{command="ping"}')
                    except aiohttp.ClientError:
                        continue
                    if ready and commands:
                        break
                assert ready, (
                    "Prometheus never stored hanabi_ready:\n" + (tmp_path / "prometheus.log").read_text()[-2000:]
                )
                assert ready[0]["value"][1] == "1"
                assert commands[0]["metric"]["outcome"] == "success"
                async with http.get(f"{base}/api/v1/rules") as response:
                    groups = (await response.json())["data"]["groups"]
                alerts = {rule["name"] for group in groups for rule in group["rules"]}
                assert {"HanabiNotReady", "HanabiInteractionsLate", "HanabiInvalidRequestsHigh"} <= alerts
        finally:
            if process.returncode is None:
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
            log.close()
