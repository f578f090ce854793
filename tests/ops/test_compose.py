"""docker-compose.yml: valid against the Compose specification, healthy ordering, no secrets in the file."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from hanabi.config import Settings
from tests.ops.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yml"
REQUIRED = {"DISCORD_TOKEN", "POSTGRES_PASSWORD", "LAVALINK_PASSWORD", "GRAFANA_ADMIN_PASSWORD"}
CORE = {"bot", "postgres", "redis", "lavalink"}
MONITORING = {"prometheus", "grafana"}


def _load(path: str) -> Any:
    return YAML(typ="safe", pure=True).load((ROOT / path).read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = _load("docker-compose.yml")
    return loaded


def _schema(name: str) -> dict[str, Any]:
    # check-jsonschema vendors the official Compose specification and GitHub workflow schemas.
    text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath(name).read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def test_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = _schema("compose-spec.json")
    validator = jsonschema.validators.validator_for(schema)(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_schema_check_would_catch_a_mistake(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["bot"]["depends_on"]["postgres"]["condition"] = "service_happy"
    schema = _schema("compose-spec.json")
    assert not jsonschema.validators.validator_for(schema)(schema).is_valid(broken)


def test_services_and_profiles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= CORE | MONITORING
    for name in CORE:
        assert "profiles" not in services[name], f"{name} must start with a plain `docker compose up -d`"
    for name in MONITORING:
        assert services[name]["profiles"] == ["monitoring"]


def test_every_service_has_a_health_check_and_the_bot_waits_for_healthy_dependencies(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    depends = services["bot"]["depends_on"]
    assert set(depends) == {"postgres", "redis", "lavalink"}
    for name, spec in depends.items():
        assert spec == {"condition": "service_healthy"}, name
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(services["bot"]["healthcheck"]["test"])


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "translate" in service.get("profiles", []):
            continue  # the optional LibreTranslate service belongs to the integrations feature
        image = service["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        assert tag not in {"", "latest"}, f"{name}: {image} is not pinned"


def test_required_variables_fail_fast_and_no_password_is_hard_coded(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    required = set(re.findall(r"\$\{([A-Z_]+):\?[^}]+\}", text))
    assert required >= REQUIRED
    for name, service in compose["services"].items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: use the mapping form for environment"
        for key, value in environment.items():
            if re.search(r"PASSWORD|TOKEN|SECRET|_KEY$", key):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", str(value)), f"{name}.{key} must come from .env"
    database_url = compose["services"]["bot"]["environment"]["DATABASE_URL"]
    assert "${POSTGRES_PASSWORD:?" in database_url


def test_every_variable_the_bot_service_sets_is_a_setting(compose: dict[str, Any]) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    environment = set(compose["services"]["bot"]["environment"])
    assert environment <= fields, f"not Settings fields: {sorted(environment - fields)}"


def test_mounted_configuration_exists(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("./") and source != "./music":
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_prometheus_scrapes_the_bot_service(compose: dict[str, Any]) -> None:
    config = _load("deploy/prometheus/prometheus.yml")
    port = compose["services"]["bot"]["environment"]["METRICS_PORT"]
    targets = [t for job in config["scrape_configs"] for group in job["static_configs"] for t in group["targets"]]
    assert f"bot:{port}" in targets
    assert any(str(mapping).endswith(f":{port}") for mapping in compose["services"]["bot"]["ports"])
