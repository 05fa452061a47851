"""Children of each kind: the data-plane command lines, restricted pods, valid manifests.

Core kinds are validated with kubernetes-validate (strict: unknown fields fail); the ScaledObject
against KEDA's own CRD schema, read from ``../shared/crds`` (never copied into the project).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from tests.support.crds import SHARED_CRDS, shared_crd

from tidal_operator import backups, dlqs
from tidal_operator.config import OperatorConfig
from tidal_operator.pods import CONTAINER_SECURITY, OWNER_UID_LABEL
from tidal_operator.specs import Owner, backup_policy, dlq_archive

ROOT = Path(__file__).resolve().parents[2]
KEDA_CRD = SHARED_CRDS / "keda.sh_scaledobjects.yaml"
CONFIG = OperatorConfig(image="registry.example/tidal:1.2.3")
OWNER = Owner(kind="BackupPolicy", name="orders", namespace="shop", uid="uid-1", generation=1)
ARCHIVE_OWNER = Owner(
    kind="DLQArchive", name="orders-dlq", namespace="shop", uid="uid-2", generation=1
)
META = {"name": "orders", "namespace": "shop"}
POLICY: dict[str, Any] = {
    "sources": {
        "kafka": {"bootstrapServers": "kafka:9092", "credentialsSecretName": "sasl"},
        "topics": ["orders.placed", "orders.confirmed"],
        "include": ["^fleet\\..*"],
        "exclude": ["\\.internal$"],
    },
    "destination": {
        "bucket": "dr-backups",
        "prefix": "kafka/",
        "region": "eu-west-1",
        "endpoint": "https://minio.dr:9000",
        "forcePathStyle": True,
        "credentials": {"secretName": "s3"},
        "restoreTarget": {"kafka": {"bootstrapServers": "dr-kafka:9092"}, "topicPrefix": "dr."},
    },
    "retention": {"maxAge": "35d", "maxCount": 40},
}
ARCHIVE: dict[str, Any] = {
    "source": {
        "kafka": {"bootstrapServers": "kafka:9092"},
        "topics": ["orders.dlq", "payments.dlq"],
    },
    "destination": {
        "bucket": "dead-letters",
        "prefix": "dlq/",
        "credentials": {"secretName": "s3"},
    },
    "scaling": {"maxReplicas": 4, "lagThreshold": 50, "triggerAuthenticationName": "kafka-sasl"},
    "redrive": {
        "runId": "crm-2025-03-14",
        "filter": {
            "types": ["com.acme.a.v1"],
            "errorClasses": ["Timeout"],
            "since": "2025-03-14T00:00:00Z",
        },
        "rateLimit": 20,
        "dryRun": True,
    },
}


def policy_children(**changes: Any) -> list[dict[str, Any]]:
    return backups.children(OWNER, backup_policy(META, POLICY | changes), CONFIG)


def archive_children(**changes: Any) -> dict[str, dict[str, Any]]:
    spec = dlq_archive({"name": "orders-dlq", "namespace": "shop"}, ARCHIVE | changes)
    return {child["kind"]: child for child in dlqs.children(ARCHIVE_OWNER, spec, CONFIG)}


def pod_specs(child: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    spec = child["spec"]
    if "jobTemplate" in spec:
        spec = spec["jobTemplate"]["spec"]
    if "template" in spec:
        yield spec["template"]["spec"]


def all_children() -> list[dict[str, Any]]:
    continuous = policy_children(mode="Continuous")
    client_side = policy_children(
        encryption={"mode": "ClientSide", "clientSide": {"keySecretRef": {"name": "k"}}}
    )
    return policy_children() + continuous + client_side + list(archive_children().values())


def test_a_scheduled_policy_is_one_utc_cronjob_running_tidal_backup_run() -> None:
    [cron] = policy_children()
    assert (cron["kind"], cron["metadata"]["name"]) == ("CronJob", "orders-backup")
    spec = cron["spec"]
    assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]) == (
        "0 2 * * *",
        "Etc/UTC",
        "Forbid",
    )
    container = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/tidal:1.2.3"
    assert container["command"] == ["tidal"]
    assert container["args"] == [
        "backup", "run", "--policy", "shop/orders", "--bootstrap-servers", "kafka:9092",
        "--topic", "orders.placed", "--topic", "orders.confirmed",
        "--include", "^fleet\\..*", "--exclude", "\\.internal$",
        "--bucket", "dr-backups", "--prefix", "kafka/", "--region", "eu-west-1",
        "--endpoint", "https://minio.dr:9000", "--path-style",
        "--retention-max-age", "35d", "--keep-last-verified", "--verify",
        "--retention-max-count", "40",
        "--encryption", "server-side", "--sse-algorithm", "AES256",
        "--restore-bootstrap-servers", "dr-kafka:9092", "--restore-topic-prefix", "dr.",
        "--result-file", "/dev/termination-log",
    ]  # fmt: skip
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["envFrom"] == [{"secretRef": {"name": "sasl"}}]
    keys = {env["name"]: env.get("valueFrom") for env in container["env"]}
    assert keys["AWS_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": "s3", "key": "AWS_ACCESS_KEY_ID"}}


def test_a_suspended_policy_suspends_its_cronjob() -> None:
    [cron] = policy_children(suspend=True)
    assert cron["spec"]["suspend"] is True


def test_a_continuous_policy_is_one_recreated_archiver_deployment() -> None:
    [deployment] = policy_children(mode="Continuous", continuous={"flushInterval": "30s"})
    assert deployment["kind"] == "Deployment"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[-4:] == ["--flush-interval", "30s", "--result-file", "/dev/termination-log"]
    assert "--continuous" in args
    [paused] = policy_children(mode="Continuous", suspend=True)
    assert paused["spec"]["replicas"] == 0


def test_client_side_encryption_mounts_the_key_read_only_and_passes_its_file() -> None:
    [cron] = policy_children(
        encryption={
            "mode": "ClientSide",
            "clientSide": {
                "keySecretRef": {"name": "k", "key": "aes"},
                "previousKeySecretRefs": [{"name": "k-2024"}],
            },
        }
    )
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert args[args.index("--encryption") + 1 :][:5] == [
        "client-side",
        "--encryption-key-file",
        "/var/run/tidal/encryption/key",
        "--previous-key-file",
        "/var/run/tidal/encryption/previous-0",
    ]
    [volume] = [v for v in pod["volumes"] if v["name"] == "encryption-key"]
    assert volume["projected"] == {
        "sources": [
            {"secret": {"name": "k", "items": [{"key": "aes", "path": "key"}]}},
            {"secret": {"name": "k-2024", "items": [{"key": "key", "path": "previous-0"}]}},
        ],
        "defaultMode": 0o400,
    }
    mount = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "encryption-key"]
    assert mount == [
        {"name": "encryption-key", "mountPath": "/var/run/tidal/encryption", "readOnly": True}
    ]


def test_kms_encryption_passes_its_key_id() -> None:
    encryption = {"serverSide": {"algorithm": "aws:kms", "kmsKeyId": "arn:aws:kms:k"}}
    [cron] = policy_children(encryption=encryption)
    args = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--sse-kms-key-id" in args
    assert args[args.index("--sse-algorithm") + 1] == "aws:kms"


def test_an_archive_is_a_drainer_a_scaler_a_retention_cronjob_and_a_redrive_job() -> None:
    children = archive_children()
    assert {kind: child["metadata"]["name"] for kind, child in children.items()} == {
        "Deployment": "orders-dlq-drain",
        "ScaledObject": "orders-dlq-drain",
        "CronJob": "orders-dlq-prune",
        "Job": dlqs.redrive_name(ARCHIVE_OWNER, "crm-2025-03-14"),
    }
    drain = children["Deployment"]["spec"]
    assert "replicas" not in drain, "KEDA owns the replica count"
    assert drain["template"]["spec"]["containers"][0]["args"][:4] == [
        "dlq", "drain", "--archive", "shop/orders-dlq",
    ]  # fmt: skip
    prune = children["CronJob"]["spec"]
    assert (prune["schedule"], prune["timeZone"]) == ("30 3 * * *", "Etc/UTC")
    prune_args = prune["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert prune_args[prune_args.index("--retention-max-age") + 1] == "14d"


def test_the_drainer_command_line_carries_partitioning_compression_and_segments() -> None:
    args = archive_children()["Deployment"]["spec"]["template"]["spec"]["containers"][0]["args"]
    text = " ".join(args)
    assert "--group tidal-dlq-archive.shop.orders-dlq" in text
    assert "--topic orders.dlq --topic payments.dlq" in text
    assert "--partition-by-time hour --partition-by-type --compression zstd" in text
    assert "--segment-max-events 10000 --segment-max-age 5m" in text


def test_the_drainer_serves_its_metrics_on_a_named_container_port() -> None:
    """Only the long-running drainer serves /metrics (the chart's drainer PodMonitor scrapes
    the port named ``metrics`` of pods labelled component=drain, managed by the operator)."""
    children = archive_children()
    template = children["Deployment"]["spec"]["template"]
    [container] = template["spec"]["containers"]
    assert container["ports"] == [{"name": "metrics", "containerPort": dlqs.METRICS_PORT}]
    args = container["args"]
    assert args[args.index("--metrics-port") + 1] == str(dlqs.METRICS_PORT)
    labels = template["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "drain"
    assert labels["app.kubernetes.io/managed-by"] == "tidal-operator"
    for kind in ("CronJob", "Job"):
        spec = children[kind]["spec"]
        pod = spec.get("jobTemplate", {}).get("spec", spec)["template"]["spec"]
        assert "ports" not in pod["containers"][0], f"the {kind} runs and ends: nothing to scrape"
        assert "--metrics-port" not in pod["containers"][0]["args"]


def test_the_redrive_job_carries_its_filters_rate_and_run_label() -> None:
    job = archive_children()["Job"]
    assert job["metadata"]["labels"][dlqs.RUN_ID_LABEL] == "crm-2025-03-14"
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert " ".join(args).startswith("dlq redrive --archive shop/orders-dlq --bucket dead-letters")
    for pair in (
        "--type com.acme.a.v1",
        "--error-class Timeout",
        "--since 2025-03-14T00:00:00Z",
        "--rate-limit 20",
    ):
        assert pair in " ".join(args)
    assert "--dry-run" in args
    assert len(job["metadata"]["name"]) <= 63


def test_no_redrive_job_without_a_run_id_or_while_suspended() -> None:
    assert "Job" not in archive_children(redrive={})
    suspended = archive_children(suspend=True)
    assert "Job" not in suspended
    assert suspended["CronJob"]["spec"]["suspend"] is True
    assert suspended["ScaledObject"]["metadata"]["annotations"] == {dlqs.PAUSED_REPLICAS: "0"}


def test_the_scaled_object_scales_the_drainer_to_zero_on_each_topics_lag() -> None:
    scaled = archive_children()["ScaledObject"]["spec"]
    assert scaled["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "orders-dlq-drain",
    }
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (0, 4)
    assert [trigger["metadata"]["topic"] for trigger in scaled["triggers"]] == [
        "orders.dlq",
        "payments.dlq",
    ]
    for trigger in scaled["triggers"]:
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["consumerGroup"] == "tidal-dlq-archive.shop.orders-dlq"
        assert trigger["metadata"]["lagThreshold"] == "50"
        assert trigger["authenticationRef"] == {"name": "kafka-sasl"}


def test_the_scaled_object_is_valid_against_kedas_crd() -> None:
    shared_crd(KEDA_CRD.name)
    crd = yaml.safe_load(KEDA_CRD.read_text(encoding="utf-8"))
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    schema = version["schema"]["openAPIV3Schema"]
    for changes in ({}, {"suspend": True}, {"scaling": {}}):
        jsonschema.validate(archive_children(**changes)["ScaledObject"], schema)
    broken = archive_children()["ScaledObject"]
    broken["spec"]["triggers"][0].pop("type")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


@pytest.mark.parametrize("index", range(6))
def test_core_children_are_valid_kubernetes_objects(index: int) -> None:
    core = [child for child in all_children() if child["kind"] != "ScaledObject"]
    assert len(core) == 6
    kubernetes_validate.validate(core[index], kubernetes_validate.latest_version(), strict=True)


def test_every_pod_meets_the_restricted_pod_security_standard() -> None:
    templates = [spec for child in all_children() for spec in pod_specs(child)]
    assert len(templates) == 6
    for pod in templates:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            assert container["securityContext"] == CONTAINER_SECURITY
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"] == {"drop": ["ALL"]}
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_children_carry_the_owner_labels_that_pruning_and_status_select_on() -> None:
    for child in all_children():
        labels = child["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "tidal-operator"
        assert labels[OWNER_UID_LABEL] in {"uid-1", "uid-2"}
        for pod in pod_specs(child):
            assert pod is not None
    [cron] = policy_children()
    job_labels = cron["spec"]["jobTemplate"]["metadata"]["labels"]
    assert job_labels["tidal.dev/backup-policy"] == "orders"
    assert OWNER_UID_LABEL not in job_labels, (
        "the CronJob's Jobs must not look like direct children"
    )


def test_a_service_account_is_used_only_when_configured() -> None:
    spec = backup_policy(META, POLICY)
    [cron] = backups.children(OWNER, spec, OperatorConfig(service_account="backup-runner"))
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "backup-runner"
    [default] = backups.children(OWNER, spec, CONFIG)
    assert "serviceAccountName" not in default["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def test_the_backup_pod_gets_the_source_credentials_only() -> None:
    """Issue 16, finding 8: with the restore target's Secret merged in as well, its
    ``TIDAL_KAFKA__*`` keys would win and the backup would log into the source as the DR user."""
    spec = copy.deepcopy(POLICY)
    spec["destination"]["restoreTarget"]["kafka"]["credentialsSecretName"] = "dr-sasl"
    policy = backup_policy(META, spec)
    [cron] = backups.children(OWNER, policy, CONFIG)
    job = cron["spec"]["jobTemplate"]["spec"]
    (container,) = job["template"]["spec"]["containers"]
    assert container["envFrom"] == [{"secretRef": {"name": "sasl"}}]
    rule = job["podFailurePolicy"]["rules"][0]
    assert rule["action"] == "FailJob"
    assert rule["onExitCodes"] == {"containerName": "tidal", "operator": "In", "values": [3]}


def test_a_restore_test_is_a_cronjob_of_its_own_with_its_own_cluster_credentials() -> None:
    """Issue 16, findings 6 and 8: the restore test runs on its schedule against its scratch
    cluster, with that cluster's credentials only."""
    spec = copy.deepcopy(POLICY)
    spec["restoreTest"] = {
        "schedule": "30 5 * * 0",
        "kafka": {"bootstrapServers": "scratch:9092", "credentialsSecretName": "scratch-sasl"},
    }
    backup, test = backups.children(OWNER, backup_policy(META, spec), CONFIG)
    assert (backup["metadata"]["name"], test["metadata"]["name"]) == (
        "orders-backup",
        "orders-rtest",
    )
    assert test["spec"]["schedule"] == "30 5 * * 0"
    pod = test["spec"]["jobTemplate"]["spec"]["template"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "restore-test"
    (container,) = pod["spec"]["containers"]
    assert container["args"][:4] == ["backup", "test-restore", "--policy", "shop/orders"]
    args = container["args"]
    assert args[args.index("--bootstrap-servers") + 1] == "scratch:9092"
    assert container["envFrom"] == [{"secretRef": {"name": "scratch-sasl"}}]
