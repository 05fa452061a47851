"""The real kopf operator against kmock's Kubernetes emulator: BackupPolicy's life cycle.

The emulator has no controllers: where the CronJob controller and the kubelet would create a Job
and its pod and write the termination message, the test writes them itself.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from operator_harness import NAMESPACE, Cluster, eventually

from tidal_operator.results import SCHEMA

pytestmark = pytest.mark.usefixtures("operator")

SPEC: dict[str, Any] = {
    "sources": {"kafka": {"bootstrapServers": "kafka:9092"}, "topics": ["orders"]},
    "destination": {"bucket": "dr-backups", "credentials": {"secretName": "s3"}},
}


async def status_of(cluster: Cluster, name: str) -> dict[str, Any]:
    body = await cluster.get("BackupPolicy", name) or {}
    return dict(body.get("status", {}))


async def test_creating_a_policy_creates_an_owned_cronjob_and_reports_ready(
    cluster: Cluster,
) -> None:
    await cluster.create("BackupPolicy", "orders", SPEC)
    ready = await eventually(lambda: cluster.condition("BackupPolicy", "orders", "Ready"))
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == (
        "True",
        "Reconciled",
        1,
    )
    cron = await cluster.get("CronJob", "orders-backup")
    assert cron is not None
    assert cron["spec"]["schedule"] == "0 2 * * *", "the CRD default, applied by the operator"
    assert cron["spec"]["timeZone"] == "Etc/UTC"
    [owner] = cron["metadata"]["ownerReferences"]
    policy = await cluster.get("BackupPolicy", "orders")
    assert policy is not None
    assert owner == {
        "apiVersion": "tidal.dev/v1alpha1",
        "kind": "BackupPolicy",
        "name": "orders",
        "uid": policy["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert cron["metadata"]["namespace"] == NAMESPACE
    assert policy["metadata"]["finalizers"] == ["tidal.dev/cleanup"]
    assert (await status_of(cluster, "orders"))["observedGeneration"] == 1
    backup = await cluster.condition("BackupPolicy", "orders", "BackupSucceeded")
    assert (backup["status"], backup["reason"]) == ("Unknown", "NoRunYet")


async def test_updating_the_schedule_updates_the_cronjob_and_the_observed_generation(
    cluster: Cluster,
) -> None:
    await cluster.create("BackupPolicy", "orders", SPEC)
    await eventually(lambda: cluster.get("CronJob", "orders-backup"))
    await cluster.patch(
        "BackupPolicy",
        "orders",
        {"metadata": {"generation": 2}, "spec": {"schedule": "30 1 * * *", "suspend": True}},
    )

    async def rescheduled() -> bool:
        cron = await cluster.get("CronJob", "orders-backup") or {}
        return cron.get("spec", {}).get("schedule") == "30 1 * * *"

    await eventually(rescheduled, what="the new schedule")
    cron = await cluster.get("CronJob", "orders-backup")
    assert cron is not None
    assert cron["spec"]["suspend"] is True

    async def observed() -> bool:
        return (await status_of(cluster, "orders")).get("observedGeneration") == 2

    await eventually(observed, what="observedGeneration 2")
    ready = await cluster.condition("BackupPolicy", "orders", "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "Suspended")


async def test_switching_to_continuous_replaces_the_cronjob_with_a_recreate_deployment(
    cluster: Cluster,
) -> None:
    await cluster.create("BackupPolicy", "orders", SPEC)
    await eventually(lambda: cluster.get("CronJob", "orders-backup"))
    await cluster.patch("BackupPolicy", "orders", {"spec": {"mode": "Continuous"}})
    deployment = await eventually(lambda: cluster.get("Deployment", "orders-backup"))
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert "--continuous" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]

    async def cronjob_gone() -> bool:
        return await cluster.names("CronJob") == []

    await eventually(cronjob_gone, what="the CronJob deleted")


def run_result(outcome: str, **fields: Any) -> str:
    return json.dumps({"schema": SCHEMA, "command": "backup run", "outcome": outcome, **fields})


async def finish_run(cluster: Cluster, job: str, *, ok: bool, message: str, at: str) -> None:
    """What the kubelet, then the Job controller would write: the pod's exit, then the Job's."""
    labels = {"tidal.dev/backup-policy": "orders", "app.kubernetes.io/component": "backup"}
    terminated = {"exitCode": 0 if ok else 1, "finishedAt": at, "message": message}
    pod_status = {"containerStatuses": [{"name": "tidal", "state": {"terminated": terminated}}]}
    pod_labels = labels | {"batch.kubernetes.io/job-name": job}
    await cluster.create(
        "Pod", f"{job}-x1y2z", {"containers": []}, status=pod_status, labels=pod_labels
    )
    condition = {"type": "Complete" if ok else "Failed", "status": "True", "lastTransitionTime": at}
    if not ok:
        condition["reason"] = "BackoffLimitExceeded"
    status = {"startTime": "2025-01-01T02:00:00Z", "conditions": [condition]}
    if ok:
        status["completionTime"] = at
    await cluster.create("Job", job, {"template": {}}, status=status, labels=labels)


async def finish_a_verified_run(cluster: Cluster) -> None:
    """The first run of ``orders`` succeeds at 2025-01-01T02:20:00Z: backup 2025-01-01T02-00-00Z,
    200,000 events, 9,000,000 bytes written and stored, verified."""
    good = run_result(
        "succeeded",
        counts={"events": 200_000, "objects": 20, "bytes": 9_000_000},
        backup={"id": "2025-01-01T02-00-00Z", "verified": True},
        stored={"backups": 1, "bytes": 9_000_000},
    )
    await finish_run(
        cluster, "orders-backup-29000000", ok=True, message=good, at="2025-01-01T02:20:00Z"
    )


async def test_finished_runs_are_read_back_from_termination_messages(cluster: Cluster) -> None:
    await cluster.create("BackupPolicy", "orders", SPEC)
    await eventually(lambda: cluster.get("CronJob", "orders-backup"))
    await finish_a_verified_run(cluster)

    async def verified() -> dict[str, Any]:
        condition = await cluster.condition("BackupPolicy", "orders", "BackupSucceeded")
        return condition if condition.get("status") == "True" else {}

    assert (await verified() or await eventually(verified))["reason"] == "BackupVerified"
    status = await status_of(cluster, "orders")
    assert status["succeededRuns"] == 1
    assert status["lastSuccessTime"] == "2025-01-01T02:20:00Z"
    assert status["lastRun"]["events"] == 200_000
    assert status["lastVerifiedBackup"]["backupId"] == "2025-01-01T02-00-00Z"
    assert status["storedBytes"] == 9_000_000

    bad = run_result("failed", error={"reason": "ChecksumMismatch", "message": "segment 7"})
    await finish_run(
        cluster, "orders-backup-29001440", ok=False, message=bad, at="2025-01-02T02:20:00Z"
    )

    async def degraded() -> dict[str, Any]:
        condition = await cluster.condition("BackupPolicy", "orders", "Degraded")
        return condition if condition.get("status") == "True" else {}

    assert (await eventually(degraded))["reason"] == "ChecksumMismatch"
    status = await status_of(cluster, "orders")
    assert (status["succeededRuns"], status["failedRuns"]) == (1, 1)
    assert status["lastFailureTime"] == "2025-01-02T02:20:00Z"
    assert status["lastVerifiedBackup"]["backupId"] == "2025-01-01T02-00-00Z", "keep last good"


async def test_an_invalid_spec_is_a_condition_with_its_reason_and_creates_nothing(
    cluster: Cluster,
) -> None:
    spec = SPEC | {"encryption": {"mode": "ClientSide"}}
    await cluster.create("BackupPolicy", "secret", spec)
    valid = await eventually(lambda: cluster.condition("BackupPolicy", "secret", "SpecValid"))
    assert (valid["status"], valid["reason"]) == ("False", "MissingEncryptionKey")
    ready = await cluster.condition("BackupPolicy", "secret", "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "MissingEncryptionKey")
    assert await cluster.names("CronJob") == []

    fixed = {"encryption": {"clientSide": {"keySecretRef": {"name": "backup-key"}}}}
    await cluster.patch("BackupPolicy", "secret", {"metadata": {"generation": 2}, "spec": fixed})
    cron = await eventually(lambda: cluster.get("CronJob", "secret-backup"))
    volumes = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
    sources = [s for v in volumes for s in v.get("projected", {}).get("sources", [])]
    assert any(source["secret"]["name"] == "backup-key" for source in sources)


async def test_a_spec_turned_invalid_keeps_the_running_children(cluster: Cluster) -> None:
    await cluster.create("BackupPolicy", "orders", SPEC)
    await eventually(lambda: cluster.get("CronJob", "orders-backup"))
    await cluster.patch("BackupPolicy", "orders", {"spec": {"schedule": "0 99 * * *"}})

    async def refused() -> dict[str, Any]:
        condition = await cluster.condition("BackupPolicy", "orders", "SpecValid")
        return condition if condition.get("status") == "False" else {}

    assert (await eventually(refused))["reason"] == "InvalidSchedule"
    cron = await cluster.get("CronJob", "orders-backup")
    assert cron is not None
    assert cron["spec"]["schedule"] == "0 2 * * *"


async def test_deleting_a_policy_runs_the_finalizer_and_deletes_its_children(
    cluster: Cluster,
) -> None:
    await cluster.create("BackupPolicy", "orders", SPEC)
    await eventually(lambda: cluster.get("CronJob", "orders-backup"))
    await finish_run(cluster, "orders-backup-1", ok=True, message="", at="2025-01-01T02:20:00Z")
    await cluster.delete("BackupPolicy", "orders")

    async def gone() -> bool:
        return await cluster.get("BackupPolicy", "orders") is None

    await eventually(gone, what="the policy released by its finalizer")
    assert await cluster.names("CronJob") == []
    assert await cluster.names("Job") == [], "the CronJob's runs are cleaned up too"
