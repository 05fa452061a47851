"""Issue 16's done-when, end to end: a BackupPolicy's run backs up 200,000 events and a consumer
group's offsets from one tansu cluster into a moto store; a Restore in the second cluster (the
real kopf operator on kmock) becomes a Job whose command line the test runs as the Job's pod
would, against the second tansu cluster; the operator then reports the Restore Succeeded, the
data is identical and the group resumes at its translated offsets."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from operator_harness import Cluster, eventually
from tests.archive.conftest import (  # noqa: F401  (session fixtures)
    aws_credentials,
    cloud_event,
    cluster_b,
    essence,
    new_topic,
    produce_events,
    read_all,
    region_b,
    store_args,
    tidal,
)
from tests.archive.test_group_offsets import _commit, _resume
from tests.support.kafka import unique
from tests.support.objectstore import S3Server

pytestmark = [pytest.mark.usefixtures("operator"), pytest.mark.integration]

EVENTS = 200_000
STOPPED = {0: 31_000, 1: 12_345, 2: 0, 3: 49_999}


async def test_a_restore_cr_restores_200k_events_and_the_groups_offsets(
    cluster: Cluster,
    kafka_bootstrap: str,
    cluster_b: str,  # noqa: F811
    region_b: S3Server,  # noqa: F811
    tmp_path: Path,
) -> None:
    topic = await new_topic(kafka_bootstrap, partitions=4)
    await produce_events(kafka_bootstrap, topic, [cloud_event(i, keys=1000) for i in range(EVENTS)])
    group = unique("ledger")
    await _commit(kafka_bootstrap, group, topic, STOPPED)
    bucket = region_b.new_bucket("crdr")
    backup = await tidal(
        ["backup", "run", "--policy", "shop/orders", "--bootstrap-servers", kafka_bootstrap,
         "--topic", topic, "--group", group, *store_args(region_b, bucket, "kafka/"),
         "--segment-max-events", "20000"],
        tmp_path,
    )  # fmt: skip
    assert backup.exit_code == 0, backup.output

    store = {
        "bucket": bucket, "prefix": "kafka/", "region": region_b.region,
        "endpoint": region_b.endpoint, "forcePathStyle": True, "credentials": {"secretName": "s3"},
    }  # fmt: skip
    spec: dict[str, Any] = {
        "source": {"store": store, "policy": "shop/orders"},
        "target": {"kafka": {"bootstrapServers": cluster_b}, "topicPrefix": "dr."},
    }
    await cluster.create("Restore", "orders", spec)
    job = await eventually(lambda: cluster.get("Job", "orders-restore"), what="the Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    result_at = args.index("--result-file")
    ran = await tidal(args[:result_at] + args[result_at + 2 :], tmp_path)  # the pod's run
    assert ran.exit_code == 0, ran.output
    assert ran.result["counts"]["events"] == EVENTS

    terminated = {"exitCode": 0, "finishedAt": "2025-01-01T10:05:00Z",
                  "message": json.dumps(ran.result)}  # fmt: skip
    labels = {"tidal.dev/restore": "orders", "batch.kubernetes.io/job-name": "orders-restore"}
    pod_status = {"containerStatuses": [{"name": "tidal", "state": {"terminated": terminated}}]}
    await cluster.create("Pod", "orders-restore-x1", {}, status=pod_status, labels=labels)
    done = {"type": "Complete", "status": "True"}
    times = {"startTime": "2025-01-01T10:00:00Z", "completionTime": "2025-01-01T10:05:00Z"}
    await cluster.patch("Job", "orders-restore", {"status": times | {"conditions": [done]}},
                        sub="status")  # fmt: skip

    async def succeeded() -> dict[str, Any]:
        body = await cluster.get("Restore", "orders") or {}
        status = body.get("status") or {}
        return status if status.get("phase") == "Succeeded" else {}

    status = await eventually(succeeded, what="the Restore Succeeded")
    assert (status["events"], status["groupOffsets"]) == (EVENTS, 4)

    source, copy = await read_all(kafka_bootstrap, topic), await read_all(cluster_b, f"dr.{topic}")
    assert {p: [essence(r) for r in rs] for p, rs in copy.items()} == {
        p: [essence(r) for r in rs] for p, rs in source.items()
    }
    assert await _resume(cluster_b, group, f"dr.{topic}") == await _resume(
        kafka_bootstrap, group, topic
    )
    assert os.environ.get("AWS_ACCESS_KEY_ID")  # the store's credentials, as the Job has them
