"""Issue 16, finding 4, on tansu and moto: restore is idempotent against the target itself (a
wiped cluster at the same address is refilled, another spelling of the address resends
nothing, a replay of another selection is another run), refuses the backup's own source, a
non-empty target and another partition count, and creates topics with the source's configs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from tests.archive.conftest import (
    cloud_event,
    essence,
    new_topic,
    produce_events,
    read_all,
    store_args,
    tidal,
)
from tests.support.kafka import TcpProxy, create_topic, tansu_broker, unique
from tests.support.objectstore import S3Server
from tests.support.servers import free_port

from tidal_data.marks import RUN_HEADER

pytestmark = pytest.mark.integration

EVENTS = 900


async def _backed_up(
    bootstrap: str, server: S3Server, tmp_path: Path, *extra: str, partitions: int = 3
) -> tuple[str, list[str], dict[str, object]]:
    topic = await new_topic(bootstrap, partitions=partitions)
    events = [
        cloud_event(i, keys=30, event_type=f"com.acme.{'ab'[i % 2]}.v1") for i in range(EVENTS)
    ]
    await produce_events(bootstrap, topic, events)
    store = store_args(server, server.new_bucket("restore"))
    done = await tidal(
        ["backup", "run", "--policy", "shop/r", "--bootstrap-servers", bootstrap, "--topic", topic,
         *store, "--segment-max-events", "250", *extra],
        tmp_path,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    return topic, store, done.result


def _same(copy: dict[int, list[object]], source: dict[int, list[object]]) -> bool:
    return {p: [essence(r) for r in rs] for p, rs in copy.items()} == {
        p: [essence(r) for r in rs] for p, rs in source.items()
    }


async def test_a_wiped_target_at_the_same_address_is_refilled(
    kafka_bootstrap: str, region_b: S3Server, tmp_path: Path
) -> None:
    topic, store, _ = await _backed_up(kafka_bootstrap, region_b, tmp_path)
    source = await read_all(kafka_bootstrap, topic)
    port = free_port()
    address = ["--bootstrap-servers", f"127.0.0.1:{port}", "--topic-prefix", "dr."]
    for _ in range(2):  # the second cluster is new and empty, at the same address
        with tansu_broker(advertised_port=port) as broker:
            proxy = TcpProxy(target_port=broker.port, port=port).start()
            try:
                restored = await tidal(["restore", *store, *address], tmp_path)
                assert restored.exit_code == 0, restored.output
                assert restored.result["counts"]["events"] == EVENTS
                assert _same(await read_all(f"127.0.0.1:{port}", f"dr.{topic}"), source)
            finally:
                proxy.stop()


async def test_another_spelling_of_the_address_sends_nothing_twice(
    kafka_bootstrap: str, cluster_b: str, region_b: S3Server, tmp_path: Path
) -> None:
    topic, store, _ = await _backed_up(kafka_bootstrap, region_b, tmp_path)
    port = cluster_b.rsplit(":", 1)[1]
    first = await tidal(
        ["restore", *store, "--bootstrap-servers", f"127.0.0.1:{port}", "--topic-prefix", "sp."],
        tmp_path,
    )
    assert first.exit_code == 0, first.output
    again = await tidal(
        ["restore", *store, "--bootstrap-servers", f"localhost:{port}", "--topic-prefix", "sp."],
        tmp_path,
    )
    assert again.exit_code == 0, again.output
    assert again.result["counts"]["events"] == 0
    assert again.result["counts"]["present"] == EVENTS
    copy = await read_all(cluster_b, f"sp.{topic}")
    assert _same(copy, await read_all(kafka_bootstrap, topic))
    runs = {dict(r.headers)[RUN_HEADER] for rs in copy.values() for r in rs}
    assert runs == {first.result["backup"]["runId"].encode()}


async def test_replays_of_two_types_into_one_topic_are_two_runs(
    kafka_bootstrap: str, cluster_b: str, region_b: S3Server, tmp_path: Path
) -> None:
    _, store, _ = await _backed_up(kafka_bootstrap, region_b, tmp_path)
    into = unique("replayed")
    sent = {}
    for kind in ("a", "b", "a"):
        replay = await tidal(
            ["replay", *store, "--bootstrap-servers", cluster_b, "--to-topic", into,
             "--type", f"com.acme.{kind}.v1"],
            tmp_path,
        )  # fmt: skip
        assert replay.exit_code == 0, replay.output
        sent.setdefault(kind, []).append(replay.result["counts"]["events"])
    assert sent == {"a": [EVENTS // 2, 0], "b": [EVENTS // 2]}
    copy = [r for rs in (await read_all(cluster_b, into)).values() for r in rs]
    assert len(copy) == EVENTS


async def test_restore_refuses_its_own_source_and_a_non_empty_target(
    kafka_bootstrap: str, cluster_b: str, region_b: S3Server, tmp_path: Path
) -> None:
    recorded = ["--restore-bootstrap-servers", kafka_bootstrap, "--restore-topic-prefix", ""]
    topic, store, _ = await _backed_up(kafka_bootstrap, region_b, tmp_path, *recorded)
    before = await read_all(kafka_bootstrap, topic)
    into_source = await tidal(["restore", *store], tmp_path)  # the recorded target: the source
    assert into_source.exit_code == 1
    assert into_source.result["error"]["reason"] == "TargetIsSource"
    assert await read_all(kafka_bootstrap, topic) == before

    busy = f"busy.{topic}"
    await create_topic(cluster_b, busy, partitions=3)
    await produce_events(cluster_b, busy, [cloud_event(i, keys=3) for i in range(5)])
    target = ["--bootstrap-servers", cluster_b, "--topic-prefix", "busy."]
    refused = await tidal(["restore", *store, *target], tmp_path)
    assert refused.exit_code == 1
    assert refused.result["error"]["reason"] == "TargetNotEmpty"
    allowed = await tidal(["restore", *store, *target, "--allow-non-empty"], tmp_path)
    assert allowed.exit_code == 0, allowed.output
    assert sum(len(rs) for rs in (await read_all(cluster_b, busy)).values()) == EVENTS + 5


async def test_restore_keeps_partition_counts_and_topic_configs(
    kafka_bootstrap: str, cluster_b: str, region_b: S3Server, tmp_path: Path
) -> None:
    topic = unique("configured")
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        configs = {"retention.ms": "604800000", "cleanup.policy": "delete"}
        await admin.create_topics([NewTopic(topic, 3, 1, topic_configs=configs)])
    finally:
        await admin.close()
    await produce_events(kafka_bootstrap, topic, [cloud_event(i, keys=9) for i in range(300)])
    store = store_args(region_b, region_b.new_bucket("configs"))
    done = await tidal(
        ["backup", "run", "--policy", "shop/c", "--bootstrap-servers", kafka_bootstrap,
         "--topic", topic, *store],
        tmp_path,
    )  # fmt: skip
    assert done.exit_code == 0, done.output

    wider = f"wide.{topic}"
    await create_topic(cluster_b, wider, partitions=5)
    refused = await tidal(
        ["restore", *store, "--bootstrap-servers", cluster_b, "--topic-prefix", "wide."], tmp_path
    )
    assert refused.exit_code == 1
    assert refused.result["error"]["reason"] == "PartitionCountDiffers"
    by_key = await tidal(
        ["restore", *store, "--bootstrap-servers", cluster_b, "--topic-prefix", "wide.",
         "--repartition", "by-key"],
        tmp_path,
    )  # fmt: skip
    assert by_key.exit_code == 0, by_key.output
    placed = await read_all(cluster_b, wider)
    partitions_of: dict[bytes, set[int]] = {}
    for partition, records in placed.items():
        for record in records:
            partitions_of.setdefault(record.key, set()).add(partition)
    assert all(len(found) == 1 for found in partitions_of.values())
    assert sum(len(rs) for rs in placed.values()) == 300

    created = await tidal(
        ["restore", *store, "--bootstrap-servers", cluster_b, "--topic-prefix", "new."], tmp_path
    )
    assert created.exit_code == 0, created.output
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster_b)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([f"new.{topic}"])
        (response,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, f"new.{topic}")]
        )
    finally:
        await admin.close()
    assert len(described["partitions"]) == 3
    entries = {e[0]: e[1] for e in response.resources[0][4]}
    assert entries.get("retention.ms") == "604800000"
    assert entries.get("cleanup.policy") == "delete"


async def test_records_the_targets_retention_would_delete_at_once_are_refused(
    kafka_bootstrap: str, cluster_b: str, region_b: S3Server, tmp_path: Path
) -> None:
    """Issue 16, finding 4: restored records keep their timestamps; where the target topic keeps
    records one day, a backup of three-day-old records would vanish at once."""
    topic = await new_topic(kafka_bootstrap, partitions=1)
    old = int((time.time() - 3 * 86_400) * 1000)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for i in range(20):
            await producer.send_and_wait(topic, b"v%d" % i, key=b"k", timestamp_ms=old + i)
    finally:
        await producer.stop()
    store = store_args(region_b, region_b.new_bucket("old"))
    done = await tidal(
        ["backup", "run", "--policy", "shop/o", "--bootstrap-servers", kafka_bootstrap,
         "--topic", topic, *store],
        tmp_path,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster_b)
    await admin.start()
    try:
        day = {"retention.ms": str(86_400_000)}
        await admin.create_topics([NewTopic(f"day.{topic}", 1, 1, topic_configs=day)])
    finally:
        await admin.close()
    target = ["--bootstrap-servers", cluster_b, "--topic-prefix", "day."]
    refused = await tidal(["restore", *store, *target], tmp_path)
    assert refused.exit_code == 1
    assert refused.result["error"]["reason"] == "RetentionWouldDelete"
    restamped = await tidal(["restore", *store, *target, "--timestamps", "now"], tmp_path)
    assert restamped.exit_code == 0, restamped.output
    (records,) = (await read_all(cluster_b, f"day.{topic}")).values()
    assert len(records) == 20
    assert all(r.timestamp > old + 86_400_000 for r in records)
    originals = [int(dict(r.headers)["tidal-original-timestamp"]) for r in records]
    assert originals == [old + i for i in range(20)]
