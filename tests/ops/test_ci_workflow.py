""".github/workflows/ci.yml: valid for GitHub Actions, tests against real services, pushes images on tags."""

from __future__ import annotations

import json
import subprocess
from importlib import resources
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from tests.ops.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe", pure=True).load(WORKFLOW.read_text())
    return loaded


def test_action_validator_accepts_the_workflow(action_validator: list[str]) -> None:
    result = subprocess.run(
        [*action_validator, str(WORKFLOW)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_action_validator_rejects_a_broken_workflow(action_validator: list[str], tmp_path: Any) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04", 1))
    result = subprocess.run([*action_validator, str(broken)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0


def test_valid_against_the_github_workflow_schema(workflow: dict[str, Any]) -> None:
    text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("github-workflows.json").read_text()
    schema = json.loads(text)
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(workflow)]
    assert not errors, "\n".join(errors)


def test_lint_types_and_tests_run_on_push_and_pull_request(workflow: dict[str, Any]) -> None:
    triggers = workflow["on"]
    assert "pull_request" in triggers
    assert "push" in triggers
    assert any(tag.startswith("v") for tag in triggers["push"]["tags"])
    test = workflow["jobs"]["test"]
    assert {"postgres", "redis"} <= set(test["services"])
    assert "TEST_DATABASE_URL" in test["env"]
    assert "TEST_REDIS_URL" in test["env"]
    steps = test["steps"]
    setup_python = next(step for step in steps if str(step.get("uses", "")).startswith("actions/setup-python"))
    assert setup_python["with"]["cache"] == "pip"
    commands = "\n".join(str(step.get("run", "")) for step in steps)
    for command in ("ruff check", "ruff format --check", "mypy", "pytest", "prometheus"):
        assert command in commands


def test_a_tag_builds_and_pushes_the_image_to_ghcr(workflow: dict[str, Any]) -> None:
    image = workflow["jobs"]["image"]
    assert image["needs"] == "test"
    assert "refs/tags/v" in image["if"]
    assert image["permissions"]["packages"] == "write"
    uses = {str(step.get("uses", "")).split("@")[0]: step for step in image["steps"]}
    assert uses["docker/login-action"]["with"]["registry"] == "ghcr.io"
    assert "type=semver" in uses["docker/metadata-action"]["with"]["tags"]
    build = uses["docker/build-push-action"]["with"]
    assert build["push"] is True
    assert "steps.meta.outputs.tags" in build["tags"]
