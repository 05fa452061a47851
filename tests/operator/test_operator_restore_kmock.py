"""The real kopf operator against kmock: a Restore in the cluster restored into (issue 16,
finding 9). The Job controller and the kubelet are not there: the test writes the Job's result
itself, as they would."""

from __future__ import annotations

import json
from typing import Any

import pytest
from operator_harness import Cluster, eventually

from tidal_operator.results import SCHEMA

pytestmark = pytest.mark.usefixtures("operator")

SPEC: dict[str, Any] = {
    "source": {
        "store": {"bucket": "dr-backups", "prefix": "kafka/", "credentials": {"secretName": "s3"}},
        "policy": "shop/orders",
    },
    "target": {
        "kafka": {"bootstrapServers": "kafka-b:9092", "credentialsSecretName": "b-sasl"},
        "topicPrefix": "restored.",
    },
}


async def _phase(cluster: Cluster, phase: str) -> dict[str, Any]:
    body = await cluster.get("Restore", "orders") or {}
    status = body.get("status") or {}
    return status if status.get("phase") == phase else {}


async def test_a_restore_is_a_job_with_a_phase_counts_and_conditions(cluster: Cluster) -> None:
    await cluster.create("Restore", "orders", SPEC)
    job = await eventually(lambda: cluster.get("Job", "orders-restore"), what="the Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[:1] == ["restore"]
    assert args[args.index("--policy") + 1] == "shop/orders"
    assert args[args.index("--bootstrap-servers") + 1] == "kafka-b:9092"
    body = await cluster.get("Restore", "orders") or {}
    assert args[args.index("--run-id") + 1] == f"restore-{body['metadata']['uid']}"
    assert container["envFrom"] == [{"secretRef": {"name": "b-sasl"}}]
    running = await eventually(lambda: _phase(cluster, "Running"), what="phase Running")
    assert running["runId"] == f"restore-{body['metadata']['uid']}"

    counts = {"events": 200_000, "present": 0, "skipped": 0, "groupOffsets": 4}
    result = {"schema": SCHEMA, "outcome": "succeeded", "counts": counts,
              "backup": {"id": "2025-01-01T02-00-00Z", "verified": True}}  # fmt: skip
    terminated = {
        "exitCode": 0,
        "finishedAt": "2025-01-01T10:05:00Z",
        "message": json.dumps(result),
    }
    labels = {"tidal.dev/restore": "orders", "batch.kubernetes.io/job-name": "orders-restore"}
    pod_status = {"containerStatuses": [{"name": "tidal", "state": {"terminated": terminated}}]}
    await cluster.create("Pod", "orders-restore-abcde", {}, status=pod_status, labels=labels)
    done = {"type": "Complete", "status": "True"}
    times = {"startTime": "2025-01-01T10:00:00Z", "completionTime": "2025-01-01T10:05:00Z"}
    await cluster.patch("Job", "orders-restore", {"status": times | {"conditions": [done]}},
                        sub="status")  # fmt: skip
    status = await eventually(lambda: _phase(cluster, "Succeeded"), what="phase Succeeded")
    assert (status["events"], status["groupOffsets"]) == (200_000, 4)
    assert status["backupId"] == "2025-01-01T02-00-00Z"
    restored = await cluster.condition("Restore", "orders", "RestoreSucceeded")
    assert (restored["status"], restored["reason"]) == ("True", "Restored")

    async def job_gone() -> bool:
        return await cluster.get("Job", "orders-restore") is None

    await eventually(job_gone, what="the finished Job let go")  # never run again
    await cluster.patch("Restore", "orders", {"metadata": {"labels": {"touched": "yes"}}})
    await eventually(lambda: _phase(cluster, "Succeeded"), what="phase kept")
    assert await cluster.get("Job", "orders-restore") is None
