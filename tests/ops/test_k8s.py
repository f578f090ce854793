"""deploy/k8s: the kustomize base and the dev overlay, rendered offline and checked against Kubernetes' schemas.

There is no kustomize binary on PyPI, so `render` composes a kustomization itself: `resources` (files and
directories), `configMapGenerator` (literals and files, with a content-hash suffix and the references to the
generated name rewritten, as kustomize does) and `images`. Any other kustomization field fails the render,
so a manifest change that needs more of kustomize cannot slip past these tests unchecked.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from hanabi.config import Settings
from tests.harness.payloads import TEST_TOKEN
from tests.ops.conftest import ROOT

K8S = ROOT / "deploy" / "k8s"
DEV = K8S / "dev"
# The oldest Kubernetes still commonly run, and the newest the installed schemas know.
KUBERNETES_VERSIONS = ["1.30", kubernetes_validate.latest_version()]
SUPPORTED_KUSTOMIZE_FIELDS = {"apiVersion", "kind", "resources", "configMapGenerator", "images"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

Manifest = dict[str, Any]


class RenderError(Exception):
    """The kustomization uses something this renderer (and so these tests) does not understand."""


# --- rendering -------------------------------------------------------------------------------------------------


def _name_hash(config_map: Manifest) -> str:
    """kustomize's suffix: sha256 of the ConfigMap's kind, name and data, 10 hex digits with a few letters swapped."""
    encoded = json.dumps(
        {"data": config_map["data"], "kind": "ConfigMap", "name": config_map["metadata"]["name"]},
        sort_keys=True,
        separators=(",", ":"),
    )
    digest = hashlib.sha256(encoded.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _generate_config_map(base: Path, spec: Manifest) -> Manifest:
    unknown = set(spec) - {"name", "literals", "files"}
    if unknown or spec.get("behavior", "create") != "create":
        raise RenderError(f"configMapGenerator {spec.get('name')}: unsupported fields {sorted(unknown)}")
    data: dict[str, str] = {}
    for literal in spec.get("literals", []):
        key, sep, value = literal.partition("=")
        if not sep:
            raise RenderError(f"literal {literal!r} has no '='")
        data[key] = value
    for entry in spec.get("files", []):
        key, sep, path = entry.partition("=")
        if not sep:
            key, path = Path(entry).name, entry
        source = (base / path).resolve()
        if not source.is_relative_to(base.resolve()):
            raise RenderError(f"{entry}: kustomize refuses files outside the kustomization directory")
        data[key] = source.read_text(encoding="utf-8")
    if len(data) != len(spec.get("literals", [])) + len(spec.get("files", [])):
        raise RenderError(f"configMapGenerator {spec['name']}: duplicate keys")
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": spec["name"]}, "data": data}


def pod_spec(resource: Manifest) -> Manifest | None:
    if resource["kind"] in WORKLOAD_KINDS:
        spec: Manifest = resource["spec"]["template"]["spec"]
        return spec
    return None


def containers(resource: Manifest) -> list[Manifest]:
    spec = pod_spec(resource)
    if spec is None:
        return []
    return [*spec.get("initContainers", []), *spec["containers"]]


def _rename_config_maps(resources: list[Manifest], renamed: dict[str, str]) -> None:
    """Point volumes, envFrom and configMapKeyRef at the hashed names (kustomize's nameReference)."""
    for resource in resources:
        spec = pod_spec(resource)
        if spec is None:
            continue
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                ref = volume["configMap"]
                ref["name"] = renamed.get(ref["name"], ref["name"])
            for source in volume.get("projected", {}).get("sources", []):
                if "configMap" in source:
                    source["configMap"]["name"] = renamed.get(source["configMap"]["name"], source["configMap"]["name"])
        for container in containers(resource):
            for env_from in container.get("envFrom", []):
                if "configMapRef" in env_from:
                    ref = env_from["configMapRef"]
                    ref["name"] = renamed.get(ref["name"], ref["name"])
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("configMapKeyRef")
                if ref is not None:
                    ref["name"] = renamed.get(ref["name"], ref["name"])


def _set_images(resources: list[Manifest], images: list[Manifest]) -> None:
    for image in images:
        if set(image) - {"name", "newName", "newTag", "digest"}:
            raise RenderError(f"images entry {image}: unsupported fields")
        for resource in resources:
            for container in containers(resource):
                name: str = re.split(r"@|:(?=[^/]*$)", container["image"])[0]
                if name != image["name"]:
                    continue
                reference: str = image.get("newName", name)
                if "digest" in image:
                    reference += "@" + image["digest"]
                elif "newTag" in image:
                    reference += ":" + str(image["newTag"])
                else:
                    reference = container["image"].replace(name, reference, 1)
                container["image"] = reference


def render(directory: Path) -> list[Manifest]:
    """`kustomize build directory`, for the subset of kustomize this repository uses."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    unknown = set(kustomization) - SUPPORTED_KUSTOMIZE_FIELDS
    if unknown:
        raise RenderError(f"{directory}: kustomization fields this test cannot render: {sorted(unknown)}")
    if kustomization.get("kind") != "Kustomization":
        raise RenderError(f"{directory}: not a Kustomization")
    resources: list[Manifest] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            resources.extend(render(path))
        elif path.is_file():
            resources.extend(doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc)
        else:
            raise RenderError(f"{directory}: resource {entry} does not exist")
    renamed: dict[str, str] = {}
    for spec in kustomization.get("configMapGenerator", []):
        config_map = _generate_config_map(directory, spec)
        hashed = f"{spec['name']}-{_name_hash(config_map)}"
        renamed[spec["name"]] = hashed
        config_map["metadata"]["name"] = hashed
        resources.append(config_map)
    _rename_config_maps(resources, renamed)
    _set_images(resources, kustomization.get("images", []))
    ids = [(r["apiVersion"].split("/")[0], r["kind"], r["metadata"]["name"]) for r in resources]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise RenderError(f"{directory}: resources defined twice: {sorted(duplicates)}")
    return resources


# --- helpers -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base() -> list[Manifest]:
    return render(K8S)


@pytest.fixture(scope="module")
def dev() -> list[Manifest]:
    return render(DEV)


def find(resources: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def find_config_map(resources: list[Manifest], name: str) -> Manifest:
    """A ConfigMap by its generated name or by the name before the hash suffix."""
    matches = [
        r
        for r in resources
        if r["kind"] == "ConfigMap" and re.fullmatch(re.escape(name) + r"(-[a-z0-9]{10})?", r["metadata"]["name"])
    ]
    assert len(matches) == 1, f"expected one ConfigMap {name}, found {len(matches)}"
    return matches[0]


def bot(resources: list[Manifest]) -> Manifest:
    return find(resources, "StatefulSet", "hanabi")


def bot_container(resources: list[Manifest]) -> Manifest:
    (container,) = [c for c in containers(bot(resources)) if c["name"] == "hanabi"]
    return container


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def pod_labels(resource: Manifest) -> dict[str, str]:
    labels: dict[str, str] = resource["spec"]["template"]["metadata"]["labels"]
    return labels


def settings_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def secret_template() -> Manifest:
    """secret.example.yaml with its commented-out manifest uncommented."""
    lines = (K8S / "secret.example.yaml").read_text(encoding="utf-8").splitlines()
    start = lines.index("# apiVersion: v1")
    manifest: Manifest = yaml.safe_load("\n".join(line.removeprefix("#").removeprefix(" ") for line in lines[start:]))
    return manifest


def env_sources(resources: list[Manifest], container: Manifest) -> Iterator[tuple[str, str]]:
    """(variable, where it comes from) for every variable the container gets from its manifest."""
    for env in container.get("env", []):
        yield env["name"], "env"
    for env_from in container.get("envFrom", []):
        prefix = env_from.get("prefix", "")
        if "configMapRef" in env_from:
            config_map = find_config_map(resources, env_from["configMapRef"]["name"])
            for key in config_map["data"]:
                yield prefix + key, f"ConfigMap {config_map['metadata']['name']}"
        if "secretRef" in env_from:
            for key in secret_template()["stringData"]:
                yield prefix + key, f"Secret {env_from['secretRef']['name']}"


# --- the files -----------------------------------------------------------------------------------------------


def test_lavalink_config_copy_is_identical_to_the_compose_one() -> None:
    original = (ROOT / "lavalink" / "application.yml").read_bytes()
    copy = (K8S / "lavalink" / "application.yml").read_bytes()
    assert copy == original, (
        "deploy/k8s/lavalink/application.yml differs from lavalink/application.yml: "
        "cp lavalink/application.yml deploy/k8s/lavalink/application.yml"
    )


def test_secret_example_is_a_commented_template_outside_the_resources() -> None:
    text = (K8S / "secret.example.yaml").read_text(encoding="utf-8")
    assert all(not line.strip() or line.startswith("#") for line in text.splitlines()), "every line a comment"
    for directory in (K8S, DEV):
        listed = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))["resources"]
        assert not any("secret" in entry for entry in listed)
    secret = secret_template()
    kubernetes_validate.validate(secret, KUBERNETES_VERSIONS[-1], strict=True)
    assert secret["kind"] == "Secret"
    assert secret["metadata"]["name"] == "hanabi"


def test_renderer_refuses_what_it_cannot_render(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("kind: Kustomization\npatches: []\nresources: []\n")
    with pytest.raises(RenderError, match="patches"):
        render(tmp_path)


def test_base_is_namespace_agnostic(base: list[Manifest]) -> None:
    for resource in base:
        assert "namespace" not in resource["metadata"], f"{resource['kind']} {resource['metadata']['name']}"
    assert "namespace" not in yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("directory", [K8S, DEV], ids=["base", "dev"])
def test_every_manifest_is_valid_kubernetes(directory: Path, version: str) -> None:
    resources = render(directory)
    assert resources
    problems = []
    for resource in resources:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = "/".join(str(p) for p in error.path)
            problems.append(f"{resource['kind']} {resource['metadata']['name']}: {path}: {error.message}")
    assert not problems, "\n".join(problems)


def test_dev_overlay_adds_postgres_and_redis_to_the_base(base: list[Manifest], dev: list[Manifest]) -> None:
    ids = {(r["kind"], r["metadata"]["name"]) for r in dev}
    assert {(r["kind"], r["metadata"]["name"]) for r in base} <= ids
    postgres = find(dev, "StatefulSet", "postgres")
    assert postgres["spec"]["replicas"] == 1
    assert postgres["spec"]["volumeClaimTemplates"], "PostgreSQL keeps its data in a PersistentVolumeClaim"
    redis = find(dev, "Deployment", "redis")
    assert redis["spec"]["replicas"] == 1
    for name, workload, port in (("postgres", postgres, 5432), ("redis", redis, 6379)):
        service = find(dev, "Service", name)
        assert selects(service["spec"]["selector"], pod_labels(workload))
        assert [p["port"] for p in service["spec"]["ports"]] == [port]
    # The dev password comes from the same Secret; its key is documented in the template.
    (pg,) = containers(postgres)
    keys = {e["valueFrom"]["secretKeyRef"]["key"] for e in pg["env"] if "valueFrom" in e}
    assert keys <= set(secret_template()["stringData"])


# --- the bot -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("directory", [K8S, DEV], ids=["base", "dev"])
def test_every_variable_set_for_the_bot_is_a_setting(directory: Path) -> None:
    resources = render(directory)
    known = settings_names()
    unknown = [
        f"{name} (from {source})"
        for name, source in env_sources(resources, bot_container(resources))
        if name not in known and not (name.endswith("_FILE") and name.removesuffix("_FILE") in known)
    ]
    assert not unknown, f"Settings has no field for: {', '.join(unknown)}"


def test_secret_files_point_into_the_mounted_secret(base: list[Manifest]) -> None:
    container = bot_container(base)
    spec = pod_spec(bot(base))
    assert spec is not None
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    files: set[str] = set()
    for volume in spec["volumes"]:
        if "secret" in volume:
            assert volume["secret"]["secretName"] == "hanabi"
            files |= {f"{mounts[volume['name']]}/{item['path']}" for item in volume["secret"]["items"]}
            assert {item["key"] for item in volume["secret"]["items"]} <= set(secret_template()["stringData"])
    file_vars = {e["name"]: e["value"] for e in container["env"] if e["name"].endswith("_FILE")}
    assert {"DISCORD_TOKEN_FILE", "DATABASE_URL_FILE", "REDIS_URL_FILE"} <= set(file_vars)
    for name, path in file_vars.items():
        assert path in files, f"{name}={path} is not a file of the mounted Secret"
    plain = {e["name"] for e in container["env"]}
    assert not plain & {"DISCORD_TOKEN", "DATABASE_URL", "REDIS_URL", "LAVALINK_PASSWORD"}


def _pod_settings(resources: list[Manifest], pod: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as the bot in `pod` would build them: the ConfigMap, the env and the secret files."""
    for name in settings_names():
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    monkeypatch.chdir(tmp_path)  # no developer .env
    container = bot_container(resources)
    fake_secrets = {
        "discord-token": TEST_TOKEN,
        "database-url": "postgresql://hanabi:pw@postgres:5432/hanabi",
        "redis-url": "redis://redis:6379/0",
        "lavalink-password": "lavalink-pw",
    }
    for key, value in fake_secrets.items():
        (tmp_path / key).write_text(value + "\n", encoding="utf-8")
    for env_from in container["envFrom"]:
        for key, value in find_config_map(resources, env_from["configMapRef"]["name"])["data"].items():
            monkeypatch.setenv(key, value)
    for env in container["env"]:
        if env["name"] == "POD_NAME":
            monkeypatch.setenv("POD_NAME", pod)
        elif env["name"].endswith("_FILE"):
            monkeypatch.setenv(env["name"], str(tmp_path / Path(env["value"]).name))
        else:
            monkeypatch.setenv(env["name"], env["value"])
    return Settings()  # type: ignore[call-arg]


def test_each_pod_gets_its_own_shards_and_together_all(
    base: list[Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = find_config_map(base, "hanabi-config")["data"]
    shard_count, per_pod = int(config["SHARD_COUNT"]), int(config["SHARDS_PER_POD"])
    replicas = bot(base)["spec"]["replicas"]
    assert replicas == math.ceil(shard_count / per_pod), "replicas must be ceil(SHARD_COUNT / SHARDS_PER_POD)"
    seen: list[int] = []
    for ordinal in range(replicas):
        settings = _pod_settings(base, f"hanabi-{ordinal}", tmp_path, monkeypatch)
        assert settings.shard_count == shard_count
        assert settings.shard_ids == list(range(ordinal * per_pod, min((ordinal + 1) * per_pod, shard_count)))
        assert settings.database_kind == "external"
        assert settings.redis_url is not None
        assert settings.metrics_host == "0.0.0.0"
        assert settings.lavalink_node_specs()[0].password == "lavalink-pw"
        seen.extend(settings.shard_ids)
    assert sorted(seen) == list(range(shard_count))


def test_statefulset_runs_the_bot_as_the_issue_asks(base: list[Manifest]) -> None:
    statefulset = bot(base)
    spec = statefulset["spec"]
    pod = pod_spec(statefulset)
    assert pod is not None
    container = bot_container(base)
    config = find_config_map(base, "hanabi-config")["data"]

    assert spec["podManagementPolicy"] == "Parallel"
    assert selects(spec["selector"]["matchLabels"], pod_labels(statefulset))
    headless = find(base, "Service", spec["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert selects(headless["spec"]["selector"], pod_labels(statefulset))

    (pod_name,) = [e for e in container["env"] if e["name"] == "POD_NAME"]
    assert pod_name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert {"SHARD_COUNT", "SHARDS_PER_POD"} <= set(config)
    assert not any(e["name"] in {"SHARD_IDS", "SHARD_COUNT"} for e in container["env"])

    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == int(config["METRICS_PORT"]) == 9108
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"]["path"] == path, probe
        assert container[probe]["httpGet"]["port"] in {"metrics", 9108}, probe
    # SIGTERM -> clean shutdown within 10 s (src/hanabi/cli.py); leave room on top.
    assert pod["terminationGracePeriodSeconds"] >= 15
    # Service links would put LAVALINK_PORT=tcp://... into the environment, which Settings reads as a port.
    assert pod["enableServiceLinks"] is False

    assert set(container["resources"]["requests"]) >= {"cpu", "memory"}
    assert "memory" in container["resources"]["limits"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    dockerfile_user = re.search(r"^USER (\d+)", (ROOT / "Dockerfile").read_text(encoding="utf-8"), re.MULTILINE)
    assert dockerfile_user is not None
    assert pod["securityContext"]["runAsUser"] == int(dockerfile_user.group(1))
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    writable = {m["mountPath"] for m in container["volumeMounts"] if m["name"] in empty_dirs}
    assert {"/tmp", config["DATA_DIR"]} <= writable


def test_pdb_selects_the_bot_pods_only(base: list[Manifest]) -> None:
    pdb = find(base, "PodDisruptionBudget", "hanabi")
    selector = pdb["spec"]["selector"]["matchLabels"]
    assert selects(selector, pod_labels(bot(base)))
    assert not selects(selector, pod_labels(find(base, "Deployment", "lavalink")))
    assert pdb["spec"]["maxUnavailable"] == 1


def test_metrics_service_is_scraped_on_9108(base: list[Manifest]) -> None:
    service = find(base, "Service", "hanabi-metrics")
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "9108"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert selects(service["spec"]["selector"], pod_labels(bot(base)))
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(9108, "metrics")]


@pytest.mark.parametrize("directory", [K8S, DEV], ids=["base", "dev"])
def test_references_resolve(directory: Path) -> None:
    """Every Service selects a workload, every named port exists, every ConfigMap referenced is rendered."""
    resources = render(directory)
    workloads = [r for r in resources if pod_spec(r) is not None]
    for service in (r for r in resources if r["kind"] == "Service"):
        targets = [w for w in workloads if selects(service["spec"]["selector"], pod_labels(w))]
        assert targets, f"Service {service['metadata']['name']} selects no pods"
        names = {p["name"] for w in targets for c in containers(w) for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in names, f"Service {service['metadata']['name']}: {port['targetPort']}"
    config_maps = {r["metadata"]["name"] for r in resources if r["kind"] == "ConfigMap"}
    for workload in workloads:
        spec = pod_spec(workload)
        assert spec is not None
        referenced = {v["configMap"]["name"] for v in spec.get("volumes", []) if "configMap" in v}
        for container in containers(workload):
            referenced |= {e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e}
        assert referenced <= config_maps, f"{workload['metadata']['name']}: missing {referenced - config_maps}"


# --- Lavalink ------------------------------------------------------------------------------------------------


def test_lavalink_runs_with_the_generated_config_and_the_secret_password(base: list[Manifest]) -> None:
    deployment = find(base, "Deployment", "lavalink")
    spec = pod_spec(deployment)
    assert spec is not None
    (container,) = containers(deployment)
    application = yaml.safe_load((ROOT / "lavalink" / "application.yml").read_text(encoding="utf-8"))
    config = find_config_map(base, "hanabi-config")["data"]

    (volume,) = [v for v in spec["volumes"] if "configMap" in v]
    generated = find_config_map(base, "lavalink-config")
    assert volume["configMap"]["name"] == generated["metadata"]["name"], "hash-suffixed name, so edits roll pods"
    assert generated["data"]["application.yml"] == (K8S / "lavalink" / "application.yml").read_text(encoding="utf-8")
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert (mount["mountPath"], mount["subPath"]) == ("/opt/Lavalink/application.yml", "application.yml")

    (password,) = [e for e in container["env"] if e["name"] == "LAVALINK_SERVER_PASSWORD"]
    assert password["valueFrom"]["secretKeyRef"] == {"name": "hanabi", "key": "lavalink-password"}
    assert password["valueFrom"]["secretKeyRef"]["key"] in secret_template()["stringData"]

    service = find(base, "Service", "lavalink")
    assert service["metadata"]["name"] == config["LAVALINK_HOST"]
    assert selects(service["spec"]["selector"], pod_labels(deployment))
    assert [p["port"] for p in service["spec"]["ports"]] == [2333]
    assert application["server"]["port"] == int(config["LAVALINK_PORT"]) == 2333
    assert {p["containerPort"] for p in container["ports"]} == {2333}


def test_images_are_pinned(base: list[Manifest]) -> None:
    for resource in base:
        for container in containers(resource):
            assert re.search(r":[^/]+$|@sha256:", container["image"]), f"{container['image']} has no tag"
    assert bot_container(base)["image"].startswith("ghcr.io/hanabi-bot/hanabi:")
