"""The real kopf operator against kmock's Kubernetes emulator: DLQArchive's life cycle.

KEDA, the Job controller and the kubelet are not there: the test writes the ScaledObject's and
the Deployment's status and the re-drive Job's result itself, as they would.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml
from operator_harness import Cluster, eventually
from tests.support.crds import SHARED_CRDS

from tidal_operator.dlqs import PAUSED_REPLICAS, RUN_ID_LABEL
from tidal_operator.results import SCHEMA

pytestmark = pytest.mark.usefixtures("operator")

KEDA_CRD = SHARED_CRDS / "keda.sh_scaledobjects.yaml"
SPEC: dict[str, Any] = {
    "source": {"kafka": {"bootstrapServers": "kafka:9092"}, "topics": ["orders.dlq"]},
    "destination": {"bucket": "dead-letters", "credentials": {"secretName": "s3"}},
}


async def condition_is(cluster: Cluster, type: str, status: str) -> dict[str, Any]:
    found = await cluster.condition("DLQArchive", "orders", type)
    return found if found.get("status") == status else {}


async def test_creating_an_archive_creates_drainer_scaler_and_retention(cluster: Cluster) -> None:
    await cluster.create("DLQArchive", "orders", SPEC)
    ready = await eventually(lambda: cluster.condition("DLQArchive", "orders", "Ready"))
    assert (ready["status"], ready["reason"]) == ("True", "Reconciled")
    assert await cluster.names("Deployment") == ["orders-drain"]
    assert await cluster.names("CronJob") == ["orders-prune"]
    scaled = await cluster.get("ScaledObject", "orders-drain")
    assert scaled is not None
    assert scaled["spec"]["minReplicaCount"] == 0
    assert scaled["metadata"]["ownerReferences"][0]["kind"] == "DLQArchive"
    crd = yaml.safe_load(KEDA_CRD.read_text(encoding="utf-8"))
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")["schema"]
    jsonschema.validate(scaled, schema["openAPIV3Schema"])
    body = await cluster.get("DLQArchive", "orders") or {}
    assert body["status"]["consumerGroup"] == "tidal-dlq-archive.tenants.orders"
    scaler = await cluster.condition("DLQArchive", "orders", "ScalerReady")
    assert (scaler["status"], scaler["reason"]) == ("Unknown", "AwaitingKEDA")


async def test_keda_and_the_drainer_are_read_back_into_the_status(cluster: Cluster) -> None:
    await cluster.create("DLQArchive", "orders", SPEC)
    await eventually(lambda: cluster.get("ScaledObject", "orders-drain"))
    keda = {"conditions": [{"type": "Ready", "status": "True", "reason": "ScaledObjectReady"}]}
    await cluster.patch("ScaledObject", "orders-drain", {"status": keda}, sub="status")
    await cluster.patch("Deployment", "orders-drain", {"status": {"replicas": 2}}, sub="status")
    draining = await eventually(lambda: condition_is(cluster, "Draining", "True"))
    assert draining["reason"] == "Draining"
    assert (await condition_is(cluster, "ScalerReady", "True"))["reason"] == "ScaledObjectReady"
    body = await cluster.get("DLQArchive", "orders") or {}
    assert body["status"]["replicas"] == 2


async def test_a_redrive_request_runs_a_job_and_reports_its_counts(cluster: Cluster) -> None:
    await cluster.create("DLQArchive", "orders", SPEC)
    await eventually(lambda: cluster.get("Deployment", "orders-drain"))
    await cluster.patch("DLQArchive", "orders", {"spec": {"redrive": {"runId": "first"}}})

    async def redrive_job() -> str:
        names = [name for name in await cluster.names("Job") if "-redrive-" in name]
        return names[0] if names else ""

    job = await eventually(redrive_job, what="the re-drive Job")
    body = await cluster.get("Job", job) or {}
    assert body["metadata"]["labels"][RUN_ID_LABEL] == "first"
    pending = await eventually(lambda: condition_is(cluster, "RedriveSucceeded", "Unknown"))
    assert pending["reason"] in {"RedrivePending", "RedriveRunning"}

    result = {"schema": SCHEMA, "outcome": "succeeded", "counts": {"redriven": 41, "skipped": 3}}
    terminated = {
        "exitCode": 0,
        "finishedAt": "2025-01-01T10:05:00Z",
        "message": json.dumps(result),
    }
    labels = {"tidal.dev/dlq-archive": "orders", "batch.kubernetes.io/job-name": job}
    pod_status = {"containerStatuses": [{"name": "tidal", "state": {"terminated": terminated}}]}
    await cluster.create("Pod", f"{job}-abcde", {}, status=pod_status, labels=labels)
    done = {"type": "Complete", "status": "True"}
    status = {"startTime": "2025-01-01T10:00:00Z", "completionTime": "2025-01-01T10:05:00Z"}
    await cluster.patch("Job", job, {"status": status | {"conditions": [done]}}, sub="status")

    succeeded = await eventually(lambda: condition_is(cluster, "RedriveSucceeded", "True"))
    assert succeeded["reason"] == "Redriven"
    body = await cluster.get("DLQArchive", "orders") or {}
    assert body["status"]["redrive"] == {
        "runId": "first",
        "job": job,
        "phase": "Succeeded",
        "redriven": 41,
        "skipped": 3,
        "completionTime": "2025-01-01T10:05:00Z",
    }


async def test_a_finished_redrive_run_is_never_run_again(cluster: Cluster) -> None:
    """Issue 16, finding 3: after the run's Job completed, neither its deletion (a TTL) nor a
    suspend and resume brings a Job of that run id back."""
    await cluster.create("DLQArchive", "orders", SPEC | {"redrive": {"runId": "once"}})

    async def redrive_job() -> str:
        names = [name for name in await cluster.names("Job") if "-redrive-" in name]
        return names[0] if names else ""

    job = await eventually(redrive_job, what="the re-drive Job")
    result = {"schema": SCHEMA, "outcome": "succeeded", "counts": {"redriven": 7}}
    terminated = {
        "exitCode": 0,
        "finishedAt": "2025-01-01T10:05:00Z",
        "message": json.dumps(result),
    }
    labels = {"tidal.dev/dlq-archive": "orders", "batch.kubernetes.io/job-name": job}
    pod_status = {"containerStatuses": [{"name": "tidal", "state": {"terminated": terminated}}]}
    await cluster.create("Pod", f"{job}-abcde", {}, status=pod_status, labels=labels)
    done = {"type": "Complete", "status": "True"}
    status = {"startTime": "2025-01-01T10:00:00Z", "completionTime": "2025-01-01T10:05:00Z"}
    await cluster.patch("Job", job, {"status": status | {"conditions": [done]}}, sub="status")
    await eventually(lambda: condition_is(cluster, "RedriveSucceeded", "True"))

    await cluster.delete("Job", job)  # the TTL controller
    await cluster.delete("Pod", f"{job}-abcde")
    for suspend in (True, False):
        await cluster.patch("DLQArchive", "orders", {"spec": {"suspend": suspend}})
        reason = "Suspended" if suspend else "Reconciled"

        async def ready(reason: str = reason) -> bool:
            found = await cluster.condition("DLQArchive", "orders", "Ready")
            return found.get("reason") == reason

        await eventually(ready, what=f"Ready with reason {reason}")
    assert await redrive_job() == ""
    body = await cluster.get("DLQArchive", "orders") or {}
    assert body["status"]["redrive"]["phase"] == "Succeeded"
    assert body["status"]["redrive"]["redriven"] == 7
    redriven = await cluster.condition("DLQArchive", "orders", "RedriveSucceeded")
    assert (redriven["status"], redriven["reason"]) == ("True", "Redriven")


async def test_suspending_an_archive_pauses_the_scaler_and_the_retention(cluster: Cluster) -> None:
    await cluster.create("DLQArchive", "orders", SPEC)
    await eventually(lambda: cluster.get("CronJob", "orders-prune"))
    await cluster.patch("DLQArchive", "orders", {"spec": {"suspend": True}})

    async def paused() -> bool:
        scaled = await cluster.get("ScaledObject", "orders-drain") or {}
        annotations = scaled.get("metadata", {}).get("annotations") or {}
        return annotations.get(PAUSED_REPLICAS) == "0"

    async def retention_suspended() -> bool:
        cron = await cluster.get("CronJob", "orders-prune") or {}
        return cron.get("spec", {}).get("suspend") is True

    await eventually(paused, what="the ScaledObject paused at zero")
    await eventually(retention_suspended, what="the retention CronJob suspended")

    async def suspended() -> bool:
        ready = await cluster.condition("DLQArchive", "orders", "Ready")
        return (ready.get("status"), ready.get("reason")) == ("True", "Suspended")

    await eventually(suspended, what="Ready with reason Suspended")


async def test_an_archive_redriving_into_its_own_dead_letter_topic_is_refused(
    cluster: Cluster,
) -> None:
    spec = SPEC | {"redrive": {"runId": "loop", "target": {"topic": "orders.dlq"}}}
    await cluster.create("DLQArchive", "orders", spec)
    refused = await eventually(lambda: condition_is(cluster, "SpecValid", "False"))
    assert refused["reason"] == "RedriveLoop"
    assert "orders.dlq" in refused["message"]
    assert await cluster.names("Deployment") == []


async def test_deleting_an_archive_deletes_every_child_and_run(cluster: Cluster) -> None:
    await cluster.create("DLQArchive", "orders", SPEC | {"redrive": {"runId": "r1"}})

    async def all_children() -> bool:
        return bool(await cluster.names("Job")) and bool(await cluster.names("ScaledObject"))

    await eventually(all_children, what="every child")
    await cluster.delete("DLQArchive", "orders")

    async def gone() -> bool:
        return await cluster.get("DLQArchive", "orders") is None

    await eventually(gone, what="the archive released by its finalizer")
    for kind in ("Deployment", "ScaledObject", "CronJob", "Job"):
        assert await cluster.names(kind) == [], kind
