"""The dev loop's configs: skaffold.yaml and the kind configs parse, and every file, chart,
Dockerfile target, values key and port-forward they name exists; the bootstrap script is strict
bash with pinned versions whose addresses and labels agree with the chart's defaults."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import jsonschema
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
from tests.deploy.skaffold import SKAFFOLD, dev_values, patched
from tests.fidelity.upstream import SOURCES

from tidal.cli.restore import restore
from tidal_operator.crds import all_crds
from tidal_operator.defaulting import defaulted
from tidal_operator.restores import restore_args, restore_spec
from tidal_operator.specs import backup_policy, owner_of

KIND_CONFIGS = [ROOT / "kind-config.yaml", ROOT / "kind-config-backup.yaml"]
BOOTSTRAP = ROOT / "k8s" / "dev" / "bootstrap.sh"
VERSIONS = ROOT / "k8s" / "dev" / "versions.env"
DEFAULTS = load_yaml(CHART / "values.yaml")


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


def test_the_restore_profile_deploys_the_restore_into_the_backup_cluster() -> None:
    config = CONFIGS["restore"]
    assert config["deploy"]["kubeContext"] == "kind-tidal-backup"
    [manifest] = config["manifests"]["rawYaml"]
    body = yaml.safe_load((ROOT / manifest).read_text())
    assert (body["apiVersion"], body["kind"]) == ("tidal.dev/v1alpha1", "Restore")


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


def test_every_built_image_reaches_the_rendered_chart_by_tag() -> None:
    """A local build (push: false) has no registry digest: images go by tag, named kind.local
    so that Knative does not resolve them at a registry (tests/fidelity checks the latter)."""
    [release] = SKAFFOLD["deploy"]["helm"]["releases"]
    assert release["name"] == RELEASE
    assert SKAFFOLD["build"]["local"]["push"] is False
    assert "inputDigest" in SKAFFOLD["build"]["tagPolicy"]
    text = yaml.safe_dump(render(dev_values(CONFIGS["default"])))
    for artifact in SKAFFOLD["build"]["artifacts"]:
        assert artifact["image"].startswith("kind.local/"), artifact["image"]
        assert f"{artifact['image']}:t1" in text, artifact["image"]


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


def versions() -> dict[str, str]:
    """k8s/dev/versions.env: NAME=value lines."""
    text = VERSIONS.read_text(encoding="utf-8")
    return dict(re.findall(r"^([A-Z_]+)=(\S+)$", text, flags=re.MULTILINE))


def test_the_bootstrap_script_is_strict_bash_reading_the_pinned_versions() -> None:
    text = BOOTSTRAP.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert subprocess.run(["bash", "-n", str(BOOTSTRAP)], check=False).returncode == 0
    assert 'source "${HERE}/versions.env"' in text
    assert re.findall(r"^(?:readonly )?[A-Z_]+=\S*\d+\.\d+", text, flags=re.MULTILINE) == []
    pins = versions()
    assert {"KNATIVE_SERVING", "KNATIVE_EVENTING", "KNATIVE_KAFKA", "STRIMZI", "KEDA"} <= set(pins)
    assert {"KUBE_PROMETHEUS_STACK", "KUBERNETES", "KNATIVE_KOURIER"} <= set(pins)
    pinned = re.compile(r"\d+\.\d+\.\d+|:RELEASE\.\d{4}-\d{2}-\d{2}T")
    assert [v for v in pins.values() if not pinned.search(v) or "latest" in v] == []
    used = set(re.findall(r"\$\{([A-Z_]+)\}", text)) - {"ROOT", "HERE", "GITHUB"}
    assert used <= set(pins), used - set(pins)
    for referenced in re.findall(r"\$\{HERE\}/([\w./-]+)", text):
        assert (BOOTSTRAP.parent / referenced).is_file(), referenced


def test_every_pin_is_stated_once_and_used_as_stated() -> None:
    """The kind node image, the Kubernetes version the chart is validated against, the Kafka
    version of the dev cluster and the upstream sources of tests/fidelity follow versions.env."""
    pins = versions()
    for path in KIND_CONFIGS:
        for node in yaml.safe_load(path.read_text())["nodes"]:
            assert node["image"] == f"kindest/node:{pins['KUBERNETES']}", path.name
    assert pins["KUBERNETES"].startswith(f"v{KUBERNETES}.")
    kafka = yaml.safe_load_all((ROOT / "k8s" / "dev" / "kafka.yaml").read_text())
    [cluster] = [doc for doc in kafka if doc["kind"] == "Kafka"]
    assert cluster["spec"]["kafka"]["version"] == pins["KAFKA"]
    tags = {source.repo: source.tag for source in SOURCES}
    assert tags["knative/serving"] == pins["KNATIVE_SERVING"]
    assert tags["knative/eventing"] == pins["KNATIVE_EVENTING"]
    assert tags["knative-extensions/eventing-kafka-broker"] == pins["KNATIVE_KAFKA"]
    assert tags["kedacore/keda"] == f"v{pins['KEDA']}"


DOCS = [ROOT / "README.md", ROOT / "k8s" / "README.md", CHART / "README.md", ROOT / "docs"]
MENTIONS = {
    "KNATIVE_SERVING": r"Knative (?:Serving )?v?(\d+\.\d+)",
    "KEDA": r"KEDA v?(\d+\.\d+)",
    "STRIMZI": r"Strimzi v?(\d+\.\d+)",
    "KUBERNETES": r"Kubernetes v?(1\.\d+)",
}


def test_the_docs_name_no_other_version_than_the_pins() -> None:
    pins = versions()
    files = [p for d in DOCS for p in ([d] if d.is_file() else sorted(d.rglob("*.md")))]
    for name, pattern in MENTIONS.items():
        wanted = re.search(r"(\d+\.\d+)", pins[name])
        assert wanted is not None
        for path in files:
            for found in re.findall(pattern, path.read_text(encoding="utf-8")):
                assert found == wanted.group(1), f"{path.name} names {name} {found}"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck_finds_nothing_in_the_bootstrap_script() -> None:
    done = subprocess.run(
        ["shellcheck", "-x", str(BOOTSTRAP)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
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


def test_the_backup_demo_restore_is_valid_and_restores_the_demo_policy() -> None:
    """Issue 16, finding 9: the demo's restore is a Restore the operator runs."""
    body = yaml.safe_load((ROOT / "k8s" / "dev" / "backup-demo" / "restore.yaml").read_text())
    crd = next(c for c in all_crds() if c["spec"]["names"]["kind"] == "Restore")
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    jsonschema.validate(defaulted(schema, body), schema)
    spec = restore_spec(body["metadata"], body["spec"])
    policy = yaml.safe_load(
        (ROOT / "k8s" / "dev" / "backup-demo" / "backuppolicy.yaml").read_text()
    )
    meta = policy["metadata"]
    assert spec.policy == f"{meta['namespace']}/{meta['name']}"
    assert (spec.store.bucket, spec.store.prefix) == (
        policy["spec"]["destination"]["bucket"],
        policy["spec"]["destination"]["prefix"],
    )
    args = restore_args(owner_of("Restore", body["metadata"] | {"uid": "u"}), spec)
    params = restore.make_context("restore", args[1:]).params
    assert (params["policy"], params["topic_prefix"]) == (spec.policy, "restored.")
