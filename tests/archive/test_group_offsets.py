"""Issue 16, finding 5, on two tansu clusters and moto: a consumer group's committed offsets are
backed up with the run and translated on restore through the restored records, so the group
resumes in the second cluster exactly where it stopped in the first (MirrorMaker 2's offset
translation, here exact because every restored record names its origin)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from tests.archive.conftest import cloud_event, new_topic, produce_events, store_args, tidal
from tests.support.kafka import committed_offsets, log_end_offsets, unique
from tests.support.objectstore import S3Server

pytestmark = pytest.mark.integration

EVENTS = 800
STOPPED = {0: 130, 1: 275}


async def _commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    client = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await client.start()
    try:
        tps = {TopicPartition(topic, p): OffsetAndMetadata(o, "") for p, o in offsets.items()}
        client.assign(list(tps))
        await client.commit(tps)
    finally:
        await client.stop()


async def _resume(bootstrap: str, group: str, topic: str) -> dict[int, list[int]]:
    """What the group reads from its committed offsets: each record's source ``n``."""
    ends = await log_end_offsets(bootstrap, topic)  # tansu: from high watermarks
    client = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await client.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(ends)]
        client.assign(tps)
        found: dict[int, list[int]] = {tp.partition: [] for tp in tps}
        positions = {tp: await client.position(tp) for tp in tps}
        while any(positions[tp] < ends[tp.partition] for tp in tps):
            for tp, records in (await client.getmany(timeout_ms=500)).items():
                found[tp.partition] += [json.loads(r.value)["n"] for r in records]
            positions = {tp: await client.position(tp) for tp in tps}
        return found
    finally:
        await client.stop()


async def test_a_group_resumes_in_the_second_cluster_at_its_translated_offsets(
    kafka_bootstrap: str, cluster_b: str, region_b: S3Server, tmp_path: Path
) -> None:
    topic = await new_topic(kafka_bootstrap, partitions=2)
    events = [
        cloud_event(i, keys=40, event_type=f"com.acme.{'ab'[i % 3 == 0]}.v1") for i in range(EVENTS)
    ]
    await produce_events(kafka_bootstrap, topic, events)
    group = unique("billing")
    await _commit(kafka_bootstrap, group, topic, STOPPED)
    unread = await _resume(kafka_bootstrap, group, topic)  # what the group has still to read
    store = store_args(region_b, region_b.new_bucket("groups"))
    done = await tidal(
        ["backup", "run", "--policy", "shop/g", "--bootstrap-servers", kafka_bootstrap,
         "--topic", topic, "--group", group, *store, "--segment-max-events", "100"],
        tmp_path,
    )  # fmt: skip
    assert done.exit_code == 0, done.output

    only_a = ["--type", "com.acme.a.v1"]  # a selection: target offsets differ from the source's
    restored = await tidal(
        ["restore", *store, "--bootstrap-servers", cluster_b, "--topic-prefix", "g.", *only_a],
        tmp_path,
    )
    assert restored.exit_code == 0, restored.output
    assert restored.result["counts"]["groupOffsets"] == 2, restored.output
    resumed = await _resume(cluster_b, group, f"g.{topic}")
    kept = {n for n in range(EVENTS) if n % 3 != 0}
    assert resumed == {p: [n for n in ns if n in kept] for p, ns in unread.items()}
    moved = await committed_offsets(cluster_b, group, f"g.{topic}")
    assert all(moved[p] is not None and moved[p] < STOPPED[p] for p in STOPPED)

    again = await tidal(
        ["restore", *store, "--bootstrap-servers", cluster_b, "--topic-prefix", "g.", *only_a],
        tmp_path,
    )
    assert again.exit_code == 0, again.output
    assert again.result["counts"]["groupOffsets"] == 0  # already there: nothing moves back
    assert await committed_offsets(cluster_b, group, f"g.{topic}") == moved
