"""BackupPolicy -> its children: a CronJob running ``tidal backup run``, or a Deployment, and
the restore test's CronJob (``tidal backup test-restore``) when ``spec.restoreTest`` is set.

Scheduled mode gives a CronJob (UTC, never two runs at once); continuous mode gives a one-replica
Deployment with ``strategy: Recreate`` so that one archiver writes at a time. The command line is
the contract with the data plane, documented in ``docs/operator.md``. Pure; called by
``tidal_operator.reconciling``.
"""

from __future__ import annotations

from typing import Final

from tidal_operator.config import OperatorConfig
from tidal_operator.pods import (
    KEY_DIR,
    Manifest,
    container,
    deployment_of,
    kafka_env_from,
    key_volumes,
    pod_template,
    repeated,
    store_args,
    store_env,
    utc_cron_job,
)
from tidal_operator.specs import BackupPolicySpec, Encryption, Owner, RestoreTest

COMPONENT: Final = "backup"
RESTORE_TEST: Final = "restore-test"
PARTIAL_EXIT: Final = 3
"""``tidal backup run``'s exit code when it was PartiallyFailed (`tidal_data.cli.shared`)."""
PARTIAL_IS_FINAL: Final = {
    "rules": [
        {
            "action": "FailJob",
            "onExitCodes": {"containerName": "tidal", "operator": "In", "values": [PARTIAL_EXIT]},
        }
    ]
}
"""A PartiallyFailed run is not retried (it would miss the same topic again): Kubernetes'
pod failure policy, batch/v1 Job ``spec.podFailurePolicy``."""


def child_name(owner: Owner) -> str:
    """The CronJob's or Deployment's name."""
    return f"{owner.name}-{COMPONENT}"


def _encryption_args(encryption: Encryption) -> list[str]:
    if encryption.mode == "ClientSide":
        previous = [f"{KEY_DIR}/previous-{i}" for i in range(len(encryption.previous_keys))]
        return [
            "--encryption", "client-side", "--encryption-key-file", f"{KEY_DIR}/key",
            *repeated("--previous-key-file", previous),
        ]  # fmt: skip
    args = ["--encryption", "server-side", "--sse-algorithm", encryption.algorithm]
    return args + (["--sse-kms-key-id", encryption.kms_key_id] if encryption.kms_key_id else [])


def restore_test_name(owner: Owner) -> str:
    """The restore test's CronJob (short: ``<name>-rtest`` plus a Job suffix fits in 63)."""
    return f"{owner.name}-rtest"


def restore_test_args(owner: Owner, spec: BackupPolicySpec, test: RestoreTest) -> list[str]:
    """``tidal backup test-restore ...`` arguments."""
    args = ["backup", "test-restore", "--policy", f"{owner.namespace}/{owner.name}"]
    args += store_args(spec.destination) + _encryption_args(spec.encryption)
    args += ["--bootstrap-servers", test.kafka.bootstrap_servers]
    args += ["--scratch-prefix", test.scratch_prefix]
    return [*args, "--replication-factor", str(test.replication_factor)]


def backup_args(owner: Owner, spec: BackupPolicySpec) -> list[str]:
    """``tidal backup run ...`` arguments for one policy."""
    args = ["backup", "run", "--policy", f"{owner.namespace}/{owner.name}"]
    args += ["--bootstrap-servers", spec.kafka.bootstrap_servers]
    args += repeated("--topic", spec.topics) + repeated("--include", spec.include)
    args += repeated("--exclude", spec.exclude) + repeated("--group", spec.groups)
    args += store_args(spec.destination)
    args += ["--retention-max-age", spec.max_age, "--keep-last-verified", "--verify"]
    if spec.max_count is not None:
        args += ["--retention-max-count", str(spec.max_count)]
    args += _encryption_args(spec.encryption)
    if spec.object_lock is not None:
        mode, days = spec.object_lock
        args += ["--object-lock-mode", mode.lower(), "--object-lock-days", str(days)]
    if spec.restore_kafka is not None:
        args += ["--restore-bootstrap-servers", spec.restore_kafka.bootstrap_servers]
        args += ["--restore-topic-prefix", spec.restore_topic_prefix]
    if spec.continuous:
        args += ["--continuous", "--flush-interval", spec.flush_interval]
    return args


def _pod(
    owner: Owner,
    spec: BackupPolicySpec,
    config: OperatorConfig,
    restart: str,
    test: RestoreTest | None = None,
) -> Manifest:
    """The backup's pod, or (``test``) the restore test's: each with its own cluster's
    credentials only."""
    mounts, volumes = key_volumes(spec.encryption)
    main = container(
        backup_args(owner, spec) if test is None else restore_test_args(owner, spec, test),
        config=config,
        env=store_env(spec.destination),
        env_from=kafka_env_from(spec.kafka if test is None else test.kafka),
        mounts=mounts,
    )
    component = COMPONENT if test is None else RESTORE_TEST
    return pod_template(
        owner, component, main, config=config, restart_policy=restart, volumes=volumes
    )


def cron_job(owner: Owner, spec: BackupPolicySpec, config: OperatorConfig) -> Manifest:
    """The CronJob of a scheduled policy."""
    job_spec = {
        "backoffLimit": spec.backoff_limit,
        "activeDeadlineSeconds": spec.active_deadline_seconds,
        "podFailurePolicy": PARTIAL_IS_FINAL,
        "template": _pod(owner, spec, config, "Never"),
    }
    return utc_cron_job(
        owner,
        child_name(owner),
        COMPONENT,
        job_spec,
        schedule=spec.schedule,
        suspend=spec.suspend,
        history_limit=spec.history_limit,
    )


def deployment(owner: Owner, spec: BackupPolicySpec, config: OperatorConfig) -> Manifest:
    """The Deployment of a continuous policy: one archiver, or none while suspended."""
    return deployment_of(
        owner,
        child_name(owner),
        COMPONENT,
        _pod(owner, spec, config, "Always"),
        replicas=0 if spec.suspend else 1,
        strategy={"type": "Recreate"},
    )


def restore_test_cron_job(
    owner: Owner, spec: BackupPolicySpec, config: OperatorConfig, test: RestoreTest
) -> Manifest:
    """The scheduled restore test."""
    job_spec = {
        "backoffLimit": 1,
        "activeDeadlineSeconds": spec.active_deadline_seconds,
        "template": _pod(owner, spec, config, "Never", test),
    }
    return utc_cron_job(
        owner,
        restore_test_name(owner),
        RESTORE_TEST,
        job_spec,
        schedule=test.schedule,
        suspend=spec.suspend,
        history_limit=spec.history_limit,
    )


def children(owner: Owner, spec: BackupPolicySpec, config: OperatorConfig) -> list[Manifest]:
    """Every child a policy needs: one CronJob or one Deployment, and the restore test's
    CronJob when there is one."""
    build = deployment if spec.continuous else cron_job
    found = [build(owner, spec, config)]
    if spec.restore_test is not None:
        found.append(restore_test_cron_job(owner, spec, config, spec.restore_test))
    return found
