"""The real kopf operator against kmock, with moto and tansu: a BackupLocation in the second
cluster lists the backups a BackupPolicy of the first cluster wrote into a shared store, and a
Restore there names one (issue 16, "restore as a resource in the second cluster"; Velero's
BackupStorageLocation and backup sync, vmware-tanzu/velero
pkg/controller/backup_sync_controller.go). The Job controller and the kubelet are not there:
the test runs the sync CronJob's command line itself (``tidal backup sync`` against moto) and
writes its result as the Job's pod would."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from operator_harness import Cluster, eventually
from tests.support.kafka import create_topic, produce, unique
from tests.support.objectstore import CREDENTIALS, S3Server, moto_server

from tidal.cli.main import cli

pytestmark = [pytest.mark.usefixtures("operator"), pytest.mark.integration]

POLICY = "shop/orders"


@pytest.fixture
def store() -> Iterator[S3Server]:
    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    with moto_server("eu-west-1") as server:
        yield server
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


async def tidal(args: list[str], tmp_path: Path) -> dict[str, Any]:
    """``tidal <args>`` on a worker thread (the command runs its own event loop): the command
    line of a pod, its result file as the termination log."""
    return await asyncio.to_thread(_run, args, tmp_path)


def _run(args: list[str], tmp_path: Path) -> dict[str, Any]:
    result_file = tmp_path / f"result-{len(list(tmp_path.iterdir()))}.json"
    if "--result-file" in args:
        args = args[: args.index("--result-file")]
    outcome = CliRunner().invoke(cli, [*args, "--result-file", str(result_file)])
    assert outcome.exit_code == 0, outcome.output
    return dict(json.loads(result_file.read_text()))


async def backup_in_cluster_a(bootstrap: str, topic: str, server: S3Server, bucket: str,
                        tmp_path: Path, *extra: str) -> str:  # fmt: skip
    args = ["backup", "run", "--policy", POLICY, "--bootstrap-servers", bootstrap,
            "--topic", topic, "--bucket", bucket, "--region", server.region,
            "--endpoint", server.endpoint, "--path-style", *extra]  # fmt: skip
    return str((await tidal(args, tmp_path))["backup"]["id"])


async def sync_once(cluster: Cluster, job: str, tmp_path: Path, finished: str) -> None:
    """What the CronJob's next Job does: its command, its result in its pod, Complete."""
    cron = await eventually(lambda: cluster.get("CronJob", "orders-dr-sync"), what="CronJob")
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["args"][:2] == ["backup", "sync"]
    result = await tidal(container["args"], tmp_path)
    labels = {"tidal.dev/backup-location": "orders-dr", "batch.kubernetes.io/job-name": job}
    await cluster.create("Job", job, {}, labels=labels)
    terminated = {"exitCode": 0, "finishedAt": finished, "message": json.dumps(result)}
    pod_status = {"containerStatuses": [{"name": "tidal", "state": {"terminated": terminated}}]}
    await cluster.create("Pod", f"{job}-abcde", {}, status=pod_status, labels=labels)
    done = {"type": "Complete", "status": "True"}
    times = {"startTime": finished, "completionTime": finished}
    await cluster.patch("Job", job, {"status": times | {"conditions": [done]}}, sub="status")


async def listed(cluster: Cluster, ids: list[str]) -> list[dict[str, Any]]:
    body = await cluster.get("BackupLocation", "orders-dr") or {}
    backups = (body.get("status") or {}).get("backups") or []
    return backups if sorted(b["id"] for b in backups) == sorted(ids) else []


async def test_a_location_lists_the_stores_backups_and_a_restore_names_one(
    cluster: Cluster, store: S3Server, kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = unique("orders")
    await create_topic(kafka_bootstrap, topic, partitions=1)
    await produce(kafka_bootstrap, topic, [(b"k", b"v%d" % i, []) for i in range(20)])
    bucket = store.new_bucket("shared")
    first = await backup_in_cluster_a(kafka_bootstrap, topic, store, bucket, tmp_path)
    second = await backup_in_cluster_a(kafka_bootstrap, topic, store, bucket, tmp_path)

    shared = {"bucket": bucket, "region": store.region, "endpoint": store.endpoint}
    credentials = {"secretName": "read-only"}
    location = {"store": shared | {"forcePathStyle": True, "credentials": credentials}}
    await cluster.create("BackupLocation", "orders-dr", location)
    cron = await eventually(lambda: cluster.get("CronJob", "orders-dr-sync"), what="CronJob")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][container["args"].index("--bucket") + 1] == bucket
    secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
    assert secrets == {"read-only"}

    await sync_once(cluster, "orders-dr-sync-1", tmp_path, "2025-01-01T10:00:00Z")
    found = await eventually(lambda: listed(cluster, [first, second]), what="both listed")
    assert {(b["policy"], b["complete"], b["verified"], b["events"]) for b in found} == {
        (POLICY, True, True, 20)
    }
    body = await cluster.get("BackupLocation", "orders-dr") or {}
    assert body["status"]["storedBackups"] == 2
    assert body["status"]["lastSyncedTime"] == "2025-01-01T10:00:00Z"
    synced = await cluster.condition("BackupLocation", "orders-dr", "Synced")
    assert (synced["status"], synced["reason"]) == ("True", "Listed")

    # cluster A's retention deletes the older backup; the next sync drops it
    third = await backup_in_cluster_a(
        kafka_bootstrap, topic, store, bucket, tmp_path, "--retention-max-count", "1"
    )
    await sync_once(cluster, "orders-dr-sync-2", tmp_path, "2025-01-01T10:05:00Z")
    await eventually(lambda: listed(cluster, [third]), what="only the kept backup listed")

    target = {"kafka": {"bootstrapServers": "kafka-b:9092"}, "topicPrefix": "restored."}
    source = {"location": "orders-dr", "policy": POLICY, "backupId": third}
    await cluster.create("Restore", "orders", {"source": source, "target": target})
    job = await eventually(lambda: cluster.get("Job", "orders-restore"), what="the restore Job")
    (restore,) = job["spec"]["template"]["spec"]["containers"]
    args = restore["args"]
    assert args[args.index("--bucket") + 1] == bucket
    assert args[args.index("--endpoint") + 1] == store.endpoint
    assert args[args.index("--backup-id") + 1] == third
    assert args[args.index("--policy") + 1] == POLICY

    gone = {"location": "orders-dr", "policy": POLICY, "backupId": first}
    await cluster.create("Restore", "stale", {"source": gone, "target": target})

    async def refused() -> dict[str, Any]:
        found = await cluster.condition("Restore", "stale", "SpecValid")
        return found if found.get("status") == "False" else {}

    invalid = await eventually(refused, what="a restore of a deleted backup refused")
    assert invalid["reason"] == "BackupNotSynced"
    assert await cluster.get("Job", "stale-restore") is None
