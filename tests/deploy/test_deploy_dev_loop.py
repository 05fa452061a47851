"""The dev loop's configs: skaffold.yaml and the kind configs parse, and every file, chart,
Dockerfile target, values key and port-forward they name exists; the bootstrap script is strict
bash with pinned versions whose addresses and labels agree with the chart's defaults."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from tests.deploy.dockerfiles import stages
from tests.deploy.rendering import (
    CHART,
    KUBERNETES,
    RELEASE,
    ROOT,
    deep_merge,
    load_yaml,
    of_kind,
    render,
    rendered,
)

from tidal.cli.restore import restore
from tidal_operator.crds import all_crds
from tidal_operator.defaulting import defaulted
from tidal_operator.specs import backup_policy

SKAFFOLD: dict[str, Any] = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
KIND_CONFIGS = [ROOT / "kind-config.yaml", ROOT / "kind-config-backup.yaml"]
BOOTSTRAP = ROOT / "k8s" / "dev" / "bootstrap.sh"
DEFAULTS = load_yaml(CHART / "values.yaml")


def pointer(path: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in path.strip("/").split("/")]


def patched(config: dict[str, Any], profile: str) -> dict[str, Any]:
    """skaffold's profile patches applied (the replace, add and remove operations used)."""
    result = copy.deepcopy(config)
    [spec] = [p for p in config["profiles"] if p["name"] == profile]
    for patch in spec.get("patches", []):
        *parents, last = pointer(patch["path"])
        node: Any = result
        for key in parents:
            node = node[key]
        if patch["op"] == "remove":
            del node[last]
        else:
            assert patch["op"] in ("replace", "add")
            node[last] = patch["value"]
    return result


PROFILES = ["knative", "kafka-keda", "backup", "restore"]
CONFIGS = {"default": SKAFFOLD, **{name: patched(SKAFFOLD, name) for name in PROFILES}}


def test_skaffold_has_a_profile_per_mode_and_the_backup_cluster() -> None:
    assert SKAFFOLD["apiVersion"].startswith("skaffold/v4")
    assert {p["name"] for p in SKAFFOLD["profiles"]} == set(PROFILES)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_chart_values_file_and_manifest_deployed_exists(name: str) -> None:
    config = CONFIGS[name]
    for release in config["deploy"].get("helm", {}).get("releases", []):
        assert (ROOT / release["chartPath"] / "Chart.yaml").is_file()
        for values in release["valuesFiles"]:
            assert (ROOT / values).is_file(), values
    for manifest in config.get("manifests", {}).get("rawYaml", []):
        assert (ROOT / manifest).is_file(), manifest
    assert ("helm" in config["deploy"]) != ("kubectl" in config["deploy"]), "one deployer"


def test_the_restore_profile_deploys_the_restore_job_into_the_backup_cluster() -> None:
    config = CONFIGS["restore"]
    assert config["deploy"]["kubeContext"] == "kind-tidal-backup"
    [manifest] = config["manifests"]["rawYaml"]
    job = yaml.safe_load((ROOT / manifest).read_text())
    [container] = job["spec"]["template"]["spec"]["containers"]
    built = {artifact["image"] for artifact in SKAFFOLD["build"]["artifacts"]}
    assert container["image"] in built, "skaffold replaces only the images it builds"


def test_the_profiles_deploy_their_modes() -> None:
    def mode(name: str) -> str:
        values: dict[str, Any] = {}
        for path in CONFIGS[name]["deploy"]["helm"]["releases"][0]["valuesFiles"]:
            values = deep_merge(values, load_yaml(ROOT / path))
        return str(deep_merge(DEFAULTS, values)["mode"])

    assert (mode("knative"), mode("kafka-keda")) == ("knative", "kafka-keda")
    assert CONFIGS["backup"]["deploy"]["kubeContext"] == "kind-tidal-backup"


def test_every_artifact_names_a_dockerfile_and_target_that_exist() -> None:
    for artifact in SKAFFOLD["build"]["artifacts"]:
        docker = artifact["docker"]
        names = {s.name for s in stages(ROOT / docker["dockerfile"])}
        assert docker.get("target") in names | {None}


def skaffold_value(template: str) -> str:
    """A setValueTemplates template as skaffold fills it for a built image."""
    fills = {
        "IMAGE_REPO": "registry.test/{}",
        "IMAGE_TAG": "t1",
        "IMAGE_DIGEST": "sha256:" + "0" * 64,
        "IMAGE_FULLY_QUALIFIED": "registry.test/{}:t1@sha256:" + "0" * 64,
    }

    def fill(match: re.Match[str]) -> str:
        kind, artifact = match.group(1), match.group(2)
        return fills[kind].format(artifact.replace("_", "-"))

    pattern = r"\{\{\.(IMAGE_FULLY_QUALIFIED|IMAGE_REPO|IMAGE_TAG|IMAGE_DIGEST)_(\w+?)\}\}"
    return re.sub(pattern, fill, template)


def test_every_built_image_reaches_the_rendered_chart() -> None:
    [release] = SKAFFOLD["deploy"]["helm"]["releases"]
    assert release["name"] == RELEASE
    values: dict[str, Any] = {}
    for path in release["valuesFiles"]:
        values = deep_merge(values, load_yaml(ROOT / path))
    for key, template in release["setValueTemplates"].items():
        *parents, last = key.split(".")
        node = values
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = skaffold_value(template)
    text = yaml.safe_dump(render(values))
    for artifact in SKAFFOLD["build"]["artifacts"]:
        assert f"registry.test/{artifact['image']}:t1@sha256:" in text, artifact["image"]


def test_port_forwards_name_the_gateway_and_grafana_services() -> None:
    forwards = {f["resourceName"]: f for f in SKAFFOLD["portForward"]}
    services = {s["metadata"]["name"] for s in of_kind(rendered("knative"), "Service")}
    assert (
        forwards["tidal-gateway"]["namespace"]
        == SKAFFOLD["deploy"]["helm"]["releases"][0]["namespace"]
    )
    assert "tidal-gateway" in services
    # kube-prometheus-stack names Grafana's Service <release>-grafana; bootstrap.sh installs `kps`
    assert forwards["kps-grafana"]["namespace"] == "monitoring"
    assert (
        "helm upgrade --install kps prometheus-community/kube-prometheus-stack"
        in BOOTSTRAP.read_text()
    )


@pytest.mark.parametrize("path", KIND_CONFIGS, ids=[p.name for p in KIND_CONFIGS])
def test_kind_configs_pin_the_validated_kubernetes_version(path: Any) -> None:
    config = yaml.safe_load(path.read_text())
    assert (config["kind"], config["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
    assert config["nodes"][0]["role"] == "control-plane"
    for node in config["nodes"]:
        assert re.fullmatch(rf"kindest/node:v{re.escape(KUBERNETES)}\.\d+", node["image"])
    assert path.name in BOOTSTRAP.read_text()


def test_the_two_clusters_are_the_contexts_skaffold_deploys_to() -> None:
    names = [yaml.safe_load(p.read_text())["name"] for p in KIND_CONFIGS]
    assert [f"kind-{n}" for n in names] == [
        CONFIGS["knative"]["deploy"]["kubeContext"],
        CONFIGS["backup"]["deploy"]["kubeContext"],
    ]


def test_the_bootstrap_script_is_strict_bash_with_pinned_versions() -> None:
    text = BOOTSTRAP.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert subprocess.run(["bash", "-n", str(BOOTSTRAP)], check=False).returncode == 0
    pins = dict(re.findall(r"^readonly ([A-Z_]+)=(\S+)$", text, flags=re.MULTILINE))
    pins = {name: v for name, v in pins.items() if name not in ("ROOT", "HERE", "GITHUB")}
    assert {"KNATIVE_SERVING", "KNATIVE_EVENTING", "KNATIVE_KAFKA", "STRIMZI", "KEDA"} <= set(pins)
    assert "KUBE_PROMETHEUS_STACK" in pins
    pinned = re.compile(r"\d+\.\d+\.\d+|:RELEASE\.\d{4}-\d{2}-\d{2}T")
    assert [v for v in pins.values() if not pinned.search(v) or "latest" in v] == []
    for referenced in re.findall(r"\$\{HERE\}/([\w./-]+)", text):
        assert (BOOTSTRAP.parent / referenced).is_file(), referenced


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck_finds_nothing_in_the_bootstrap_script() -> None:
    done = subprocess.run(
        ["shellcheck", str(BOOTSTRAP)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout


def test_the_dev_cluster_matches_the_charts_defaults() -> None:
    kafka = list(yaml.safe_load_all((ROOT / "k8s" / "dev" / "kafka.yaml").read_text()))
    [cluster] = [d for d in kafka if d["kind"] == "Kafka"]
    [listener] = cluster["spec"]["kafka"]["listeners"]
    meta = cluster["metadata"]
    address = f"{meta['name']}-kafka-bootstrap.{meta['namespace']}:{listener['port']}"
    assert address == DEFAULTS["kafka"]["bootstrapServers"]
    [topic] = [d for d in kafka if d["kind"] == "KafkaTopic"]
    assert topic["spec"]["partitions"] == DEFAULTS["kafka"]["partitions"]
    broker = yaml.safe_load((ROOT / "k8s" / "dev" / "kafka-broker-config.yaml").read_text())
    assert broker["metadata"]["name"] == DEFAULTS["knative"]["broker"]["configMap"]
    assert broker["data"]["bootstrap.servers"] == address
    stack = yaml.safe_load((ROOT / "k8s" / "dev" / "kube-prometheus-stack-values.yaml").read_text())
    sidecar = stack["grafana"]["sidecar"]["dashboards"]
    assert (sidecar["label"], sidecar["labelValue"]) == (
        DEFAULTS["dashboards"]["label"],
        DEFAULTS["dashboards"]["labelValue"],
    )


def test_the_backup_demo_policy_is_valid_and_accepted_by_the_operator() -> None:
    body = yaml.safe_load((ROOT / "k8s" / "dev" / "backup-demo" / "backuppolicy.yaml").read_text())
    [crd] = [c for c in all_crds() if c["spec"]["names"]["kind"] == body["kind"]]
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    jsonschema.validate(defaulted(schema, body), schema)
    backup_policy(body["metadata"], body["spec"])


def test_the_backup_demo_restore_job_is_valid_and_its_command_line_parses() -> None:
    body = yaml.safe_load((ROOT / "k8s" / "dev" / "backup-demo" / "restore-job.yaml").read_text())
    kubernetes_validate.validate(body, "1.31", strict=True)
    [container] = body["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["tidal"]
    assert container["args"][0] == "restore"
    params = restore.make_context("restore", list(container["args"][1:])).params
    assert (params["bucket"], params["prefix"], params["path_style"]) == (
        "tidal-backups",
        "kind-tidal/",
        True,
    )
