"""Pod templates for the children: the tidal container, restricted security, labels, secrets.

Every generated pod passes the Kubernetes "restricted" Pod Security Standard: non-root,
read-only root filesystem (``/tmp`` is an emptyDir), no privilege escalation, all capabilities
dropped, the RuntimeDefault seccomp profile; no API token is mounted. Results come back through
the termination message (``/dev/termination-log``, see ``tidal_operator.results``). Also the
other pieces both kinds' children share: repeated flags, and the CronJob and the Deployment around
a pod. Pure; called by ``tidal_operator.backups`` and ``tidal_operator.dlqs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from tidal_operator.config import OperatorConfig
from tidal_operator.specs import Encryption, KafkaCluster, ObjectStore, Owner

Manifest = dict[str, Any]

MANAGED_BY: Final = {"app.kubernetes.io/managed-by": "tidal-operator"}
OWNER_UID_LABEL: Final = "tidal.dev/owner-uid"
OWNER_LABELS: Final = {
    "BackupPolicy": "tidal.dev/backup-policy",
    "DLQArchive": "tidal.dev/dlq-archive",
    "Restore": "tidal.dev/restore",
    "BackupLocation": "tidal.dev/backup-location",
}
CONTAINER: Final = "tidal"
RESULT_PATH: Final = "/dev/termination-log"
USER_ID: Final = 65532

CONTAINER_SECURITY: Final = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
POD_SECURITY: Final = {
    "runAsNonRoot": True,
    "runAsUser": USER_ID,
    "runAsGroup": USER_ID,
    "fsGroup": USER_ID,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def labels(owner: Owner, component: str) -> dict[str, str]:
    """Labels of a child and of its pods: name, instance, component, and the owner's name."""
    return {
        "app.kubernetes.io/name": "tidal",
        "app.kubernetes.io/instance": owner.name,
        "app.kubernetes.io/component": component,
        OWNER_LABELS[owner.kind]: owner.name,
    } | MANAGED_BY


def metadata(owner: Owner, name: str, component: str) -> Manifest:
    """Top-level metadata of a child; the owner-uid label marks what the operator created."""
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": labels(owner, component) | {OWNER_UID_LABEL: owner.uid},
    }


def repeated(flag: str, values: Sequence[str]) -> list[str]:
    """``flag value`` once per value: ``--topic a --topic b``."""
    return [item for value in values for item in (flag, value)]


def store_args(store: ObjectStore) -> list[str]:
    """``--bucket/--prefix/--region/--endpoint/--path-style`` flags of an object store."""
    args = ["--bucket", store.bucket, "--prefix", store.prefix]
    args += ["--region", store.region] if store.region else []
    args += ["--endpoint", store.endpoint] if store.endpoint else []
    return args + (["--path-style"] if store.force_path_style else [])


def store_env(store: ObjectStore) -> list[Manifest]:
    """The access key pair as the standard AWS variables, from the store's Secret."""
    return [
        _secret_env("AWS_ACCESS_KEY_ID", store.secret_name, store.access_key_id_key),
        _secret_env("AWS_SECRET_ACCESS_KEY", store.secret_name, store.secret_access_key_key),
    ]


def _secret_env(name: str, secret: str, key: str) -> Manifest:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def kafka_env_from(*clusters: KafkaCluster | None) -> list[Manifest]:
    """``envFrom`` for the clusters' credential Secrets (TIDAL_KAFKA__* variables)."""
    names = dict.fromkeys(c.credentials_secret for c in clusters if c and c.credentials_secret)
    return [{"secretRef": {"name": name}} for name in names]


def container(
    args: Sequence[str],
    *,
    config: OperatorConfig,
    env: Sequence[Manifest] = (),
    env_from: Sequence[Manifest] = (),
    mounts: Sequence[Manifest] = (),
) -> Manifest:
    """The tidal container running ``tidal <args>`` and writing its result file."""
    return {
        "name": CONTAINER,
        "image": config.image,
        "imagePullPolicy": config.image_pull_policy,
        "command": ["tidal"],
        "args": [*args, "--result-file", RESULT_PATH],
        "env": [{"name": "TMPDIR", "value": "/tmp"}, *env],
        "envFrom": list(env_from),
        "resources": {
            "requests": {"cpu": config.cpu_request, "memory": config.memory_request},
            "limits": {"memory": config.memory_limit},
        },
        "securityContext": dict(CONTAINER_SECURITY),
        "terminationMessagePath": RESULT_PATH,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, *mounts],
    }


KEY_DIR: Final = "/var/run/tidal/encryption"


def key_volumes(encryption: Encryption) -> tuple[list[Manifest], list[Manifest]]:
    """The mounts and volumes of client-side encryption: the key as ``KEY_DIR/key`` and each
    rotated-out key as ``KEY_DIR/previous-<i>``, read only (none for server-side)."""
    if encryption.mode != "ClientSide":
        return [], []
    mounts = [{"name": "encryption-key", "mountPath": KEY_DIR, "readOnly": True}]
    items = [{"key": encryption.key_secret_key, "path": "key"}]
    sources = [{"secret": {"name": encryption.key_secret, "items": items}}]
    for i, (name, key) in enumerate(encryption.previous_keys):
        sources.append({"secret": {"name": name, "items": [{"key": key, "path": f"previous-{i}"}]}})
    projected = {"sources": sources, "defaultMode": 0o400}
    return mounts, [{"name": "encryption-key", "projected": projected}]


def pod_template(
    owner: Owner,
    component: str,
    main: Manifest,
    *,
    config: OperatorConfig,
    restart_policy: str,
    volumes: Sequence[Manifest] = (),
) -> Manifest:
    """A restricted pod template around one container."""
    spec: Manifest = {
        "restartPolicy": restart_policy,
        "automountServiceAccountToken": False,
        "securityContext": dict(POD_SECURITY),
        "containers": [main],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}, *volumes],
    }
    if config.service_account:
        spec["serviceAccountName"] = config.service_account
    return {"metadata": {"labels": labels(owner, component)}, "spec": spec}


def utc_cron_job(
    owner: Owner,
    name: str,
    component: str,
    job_spec: Manifest,
    *,
    schedule: str,
    suspend: bool,
    history_limit: int,
) -> Manifest:
    """A CronJob in UTC that never starts a run while one is active, nor more than an hour late."""
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata(owner, name, component),
        "spec": {
            "schedule": schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "suspend": suspend,
            "successfulJobsHistoryLimit": history_limit,
            "failedJobsHistoryLimit": history_limit,
            "jobTemplate": {"metadata": {"labels": labels(owner, component)}, "spec": job_spec},
        },
    }


def deployment_of(
    owner: Owner, name: str, component: str, template: Manifest, **spec: Any
) -> Manifest:
    """A Deployment of one component's pods, selecting them by the labels ``pod_template`` gave
    them; ``spec`` holds the fields that come before the selector (``replicas``, ``strategy``)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(owner, name, component),
        "spec": {
            **spec,
            "selector": {"matchLabels": labels(owner, component)},
            "template": template,
        },
    }
