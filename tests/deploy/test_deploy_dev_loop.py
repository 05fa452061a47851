"""The dev loop's configs: skaffold.yaml and the kind configs parse, and every file, chart,
Dockerfile target, values key and port-forward they name exists; the bootstrap script is strict
bash with pinned versions whose addresses and labels agree with the chart's defaults."""

from __future__ import annotations

import json
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

from tidal_data.cli.restore import restore
from tidal_operator.checks import SpecError
from tidal_operator.crds import all_crds
from tidal_operator.defaulting import defaulted
from tidal_operator.locations import backups_of, location_spec, resolve
from tidal_operator.restores import restore_args, restore_spec
from tidal_operator.specs import backup_policy, owner_of

KIND_CONFIGS = [ROOT / "kind-config.yaml", ROOT / "kind-config-backup.yaml"]
BOOTSTRAP = ROOT / "k8s" / "dev" / "bootstrap.sh"
DEMO = ROOT / "k8s" / "dev" / "backup-demo"
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


def test_the_restore_profile_deploys_the_location_into_the_backup_cluster() -> None:
    """The Restore itself waits for a backup id the location lists (demo_restore)."""
    config = CONFIGS["restore"]
    assert config["deploy"]["kubeContext"] == "kind-tidal-backup"
    [manifest] = config["manifests"]["rawYaml"]
    body = yaml.safe_load((ROOT / manifest).read_text())
    assert (body["apiVersion"], body["kind"]) == ("tidal.dev/v1alpha1", "BackupLocation")


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


def schema_of(kind: str) -> dict[str, Any]:
    crd = next(c for c in all_crds() if c["spec"]["names"]["kind"] == kind)
    return dict(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def demo_restore(backup_id: str) -> dict[str, Any]:
    """The Restore that ``restore.sh`` creates for ``backup_id`` (its ``--print``)."""
    done = subprocess.run(
        ["bash", str(DEMO / "restore.sh"), "--print", backup_id],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(yaml.safe_load(done.stdout))


def synced(location: dict[str, Any], *ids: str) -> dict[str, Any]:
    """``location`` as the operator's status shows it after a sync listed ``ids`` (verified
    backups of the demo policy, newest first) in the sync's ``listing`` result."""
    policy = yaml.safe_load((DEMO / "backuppolicy.yaml").read_text())["metadata"]
    listing = {"policies": {f"{policy['namespace']}/{policy['name']}": [
        [i, "cv", 7500, 1 << 20] for i in ids
    ]}}  # fmt: skip
    return location | {"status": {"backups": backups_of(listing)}}


def test_the_backup_demo_location_is_valid_and_reads_the_policy_store_read_only() -> None:
    """Issue 16: cluster B finds the demo policy's backups through a BackupLocation of the
    store the policy writes into, with credentials of its own (the reader's, not the writer's)."""
    body = yaml.safe_load((DEMO / "backuplocation.yaml").read_text())
    schema = schema_of("BackupLocation")
    jsonschema.validate(defaulted(schema, body), schema)
    spec = location_spec(body["metadata"], defaulted(schema, body)["spec"])
    destination = yaml.safe_load((DEMO / "backuppolicy.yaml").read_text())["spec"]["destination"]
    assert (spec.store.bucket, spec.store.prefix, spec.store.endpoint) == (
        destination["bucket"],
        destination["prefix"],
        destination["endpoint"],
    )
    assert spec.store.secret_name != destination["credentials"]["secretName"]
    assert spec.store.secret_name in BOOTSTRAP.read_text()
    read_only = json.loads((DEMO / "minio-read-only.json").read_text())
    actions = {a for s in read_only["Statement"] for a in s["Action"]}
    assert actions == {"s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject"}
    assert "backup-demo/minio-read-only.json" in BOOTSTRAP.read_text()


def test_the_backup_demo_restore_names_the_location_and_a_backup_it_lists() -> None:
    """Issue 16, finding 9: the demo's cluster-B restore is a Restore of a backup the
    location lists, run by the operator with the location's store and credentials."""
    location = yaml.safe_load((DEMO / "backuplocation.yaml").read_text())
    assert "store" not in yaml.safe_load((DEMO / "restore.yaml").read_text())["spec"]["source"]
    newest, older = "2026-12-06T09-45-00Z", "2026-12-06T09-30-00Z"
    body = demo_restore(older)
    schema = schema_of("Restore")
    jsonschema.validate(defaulted(schema, body), schema)
    source = body["spec"]["source"]
    assert (source["location"], source["backupId"]) == (location["metadata"]["name"], older)
    assert body["metadata"]["namespace"] == location["metadata"]["namespace"]

    spec = restore_spec(body["metadata"], resolve(body["spec"], synced(location, newest, older)))
    policy = yaml.safe_load((DEMO / "backuppolicy.yaml").read_text())["metadata"]
    assert spec.policy == f"{policy['namespace']}/{policy['name']}"
    assert (spec.store.bucket, spec.store.prefix, spec.store.secret_name) == (
        location["spec"]["store"]["bucket"],
        location["spec"]["store"]["prefix"],
        location["spec"]["store"]["credentials"]["secretName"],
    )
    args = restore_args(owner_of("Restore", body["metadata"] | {"uid": "u"}), spec)
    params = restore.make_context("restore", args[1:]).params
    assert (params["policy"], params["backup_id"]) == (spec.policy, older)
    assert params["topic_prefix"] == "restored."

    with pytest.raises(SpecError) as refused:  # a backup the location has not listed
        resolve(demo_restore("2026-12-06T10-00-00Z")["spec"], synced(location, newest, older))
    assert refused.value.reason == "BackupNotSynced"


def test_the_backup_demo_restore_script_is_strict_bash_shellcheck_clean() -> None:
    script = DEMO / "restore.sh"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert script.stat().st_mode & 0o111
    if shutil.which("shellcheck") is not None:
        done = subprocess.run(["shellcheck", "-x", str(script)], capture_output=True, text=True,
                              check=False, cwd=ROOT)  # fmt: skip
        assert done.returncode == 0, done.stdout
    refused = subprocess.run(["bash", str(script), "--print"], capture_output=True, check=False)
    assert refused.returncode == 1
