"""The Grafana dashboard and the alert rules query only metrics the bot exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.metrics_core import Metric
from ruamel.yaml import YAML

from hanabi.infra.metrics import Metrics
from tests.harness.bot import running_bot
from tests.harness.discord import FakeDiscord
from tests.ops.conftest import ROOT
from tests.ops.metrics_helpers import family_names

DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "hanabi.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
# Series Prometheus itself adds to every target.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
    "gauge": ("",),
}
PANELS_REQUIRED = (
    "hanabi_commands_total",
    "hanabi_command_duration_seconds_bucket",
    "hanabi_interactions_late_total",
    "hanabi_gateway_latency_seconds",
    "hanabi_guilds",
    "hanabi_gateway_events_total",
    "hanabi_db_pool_size",
    "hanabi_upstream_requests_total",
    "process_resident_memory_bytes",
    "hanabi_event_loop_lag_max_seconds",
)


def sample_names(families: list[Metric]) -> set[str]:
    names = set()
    for family in families:
        for suffix in _SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords or label names."""
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = re.sub(r'"[^"]*"', "", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        token = match.group(0)
        following = expr[match.end() :].lstrip()
        if following.startswith("("):
            continue  # a function or aggregation
        if token in {"and", "or", "unless", "bool", "offset", "inf", "nan", "le"}:
            continue
        names.add(token)
    return names


def dashboard_expressions() -> list[str]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_expressions() -> list[str]:
    rules = YAML(typ="safe", pure=True).load(ALERTS.read_text())
    return [str(rule["expr"]) for group in rules["groups"] for rule in group["rules"]]


def test_the_expression_parser_finds_metric_names() -> None:
    expr = 'histogram_quantile(0.95, sum by (le) (rate(hanabi_command_duration_seconds_bucket{job="x"}[5m])))'
    assert metric_names(expr) == {"hanabi_command_duration_seconds_bucket"}
    assert metric_names("sum(rate(a_total[5m])) / sum(rate(b_total[5m])) > 0.05 and up == 0") == {
        "a_total",
        "b_total",
        "up",
    }


def test_dashboard_has_the_panels_operators_need() -> None:
    queried = set().union(*map(metric_names, dashboard_expressions()))
    missing = [name for name in PANELS_REQUIRED if name not in queried]
    assert not missing


def test_every_queried_metric_is_registered() -> None:
    exported = sample_names(list(Metrics().registry.collect())) | PROMETHEUS_SERIES
    for source, expressions in (("dashboard", dashboard_expressions()), ("alerts", alert_expressions())):
        for expr in expressions:
            unknown = metric_names(expr) - exported
            assert not unknown, f"{source} queries {sorted(unknown)} which the bot does not export: {expr}"


@pytest.mark.asyncio
async def test_a_running_bot_exports_every_family_it_registers(
    fake: FakeDiscord, database_url: str, tmp_path: Path
) -> None:
    async with running_bot(fake, database_url, tmp_path) as running:
        scraped = await family_names(running.metrics_url)
        registered = {family.name for family in running.app.metrics.registry.collect()}
    assert registered <= scraped


def test_provisioning_points_at_the_dashboard_and_the_datasource() -> None:
    yaml = YAML(typ="safe", pure=True)
    provisioning = ROOT / "deploy" / "grafana" / "provisioning"
    datasource = yaml.load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    provider = yaml.load((provisioning / "dashboards" / "hanabi.yml").read_text())["providers"][0]
    compose = yaml.load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in mounts
    dashboard = json.loads(DASHBOARD.read_text())
    uids = {panel["datasource"]["uid"] for panel in dashboard["panels"] if "datasource" in panel}
    assert uids == {datasource["uid"]}
    assert datasource["url"] == "http://prometheus:9090"
