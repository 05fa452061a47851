"""Issue 16, "partitions that are only partly readable are not detected", on tansu and moto: a
backup run that cannot read a partition to its end (here its log was cut under the run, as an
unclean leader election truncates it; or its topic deleted) ends PartiallyFailed naming the
partition and the offsets it misses, and retention keeps the newest backup holding that
partition whole. Before the fix the run waited for the missing offsets forever. (Records
deleted below the position, ``OffsetOutOfRange``, cannot be made on tansu 0.6: its memory
storage has no DeleteRecords and no retention.)"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from tests.archive.conftest import cloud_event, new_topic, produce_events, store_args, tidal
from tests.archive.test_ownership import EVENTS, filled_topic, objects, run_args
from tests.support.kafka import create_topic
from tests.support.objectstore import S3Server

from tidal_data import backups
from tidal_data.kafka import consumer, kafka_settings, start, stop
from tidal_data.manifest import Manifest
from tidal_data.runs import ArchiveOptions, Sources, start_backup
from tidal_data.store import ObjectStore

pytestmark = pytest.mark.integration

CUT_EVENTS, KEPT = 500, 200


async def _listed(
    bootstrap: str, store: ObjectStore, topics: tuple[str, ...], policy: str
) -> Manifest:
    """What a run does first: list the offset ranges and write its open manifest (a run that
    stops here is resumed from it by the next)."""
    client = consumer(kafka_settings(bootstrap), reset="none")
    await start(client, bootstrap)
    try:
        return await start_backup(
            client, store, Sources(topics=topics), ArchiveOptions(policy=policy),
            now=datetime.now(UTC),
        )  # fmt: skip
    finally:
        await stop(client)


async def _delete_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


async def test_a_truncated_partition_is_partially_failed_and_its_whole_backup_is_kept(
    kafka_bootstrap: str, region_a: S3Server, tmp_path: Path
) -> None:
    stays = await filled_topic(kafka_bootstrap)
    cut = await new_topic(kafka_bootstrap, partitions=1)
    records = [cloud_event(i, keys=10) for i in range(CUT_EVENTS)]
    await produce_events(kafka_bootstrap, cut, records)
    bucket = region_a.new_bucket("unreadable")
    store = store_args(region_a, bucket)
    whole = await tidal(run_args("shop/u", kafka_bootstrap, [stays, cut], store), tmp_path)
    assert whole.exit_code == 0, whole.output
    assert "unreadable" not in whole.result["backup"]

    shared = objects(region_a, bucket)
    opened = await _listed(kafka_bootstrap, shared, (stays, cut), "shop/u")
    assert opened.partition(cut, 0).end == CUT_EVENTS
    await _delete_topic(kafka_bootstrap, cut)  # the log now ends at KEPT, below the listed end
    await create_topic(kafka_bootstrap, cut, partitions=1)
    await produce_events(kafka_bootstrap, cut, records[:KEPT])

    args = run_args("shop/u", kafka_bootstrap, [stays, cut], store, "--retention-max-count", "1")
    partial = await tidal([*args, "--read-timeout", "2s"], tmp_path)
    assert partial.exit_code == 3, partial.output
    assert partial.result["outcome"] == "partiallyFailed"
    assert partial.result["error"]["reason"] == "PartitionsUnreadable"
    assert (
        f"{cut}/0 offsets {KEPT}-{CUT_EVENTS - 1} (LogTruncated)"
        in partial.result["error"]["message"]
    )
    assert partial.result["backup"]["id"] == opened.id
    assert partial.result["backup"]["unreadable"] == [
        {"topic": cut, "partition": 0, "from": KEPT, "to": CUT_EVENTS - 1, "reason": "LogTruncated"}
    ]
    assert partial.result["counts"]["events"] == EVENTS + KEPT  # the rest was backed up

    found = {m.id: m for m in backups.manifests(shared, "shop/u")}
    assert list(found) == [whole.result["backup"]["id"], opened.id]  # max-count 1 kept both
    written = found[opened.id]
    assert written.state == "complete"
    assert written.verified
    assert written.partition(cut, 0).next == CUT_EVENTS
    assert written.whole_partitions() == {(stays, 0), (stays, 1)}
    assert sum(s.count for s in written.segments_of(cut, 0)) == KEPT

    listing = await tidal(["backup", "ls", *store], tmp_path, result=False)
    assert f"unreadable: {cut}/0 offsets {KEPT}-{CUT_EVENTS - 1} (LogTruncated)" in listing.output

    later = await tidal(args, tmp_path)  # a new listing: the log as it is now, read whole
    assert later.exit_code == 0, later.output
    assert "unreadable" not in later.result["backup"]
    assert [m.id for m in backups.manifests(shared, "shop/u")] == [later.result["backup"]["id"]]


async def test_a_topic_deleted_before_it_was_read_is_named_with_its_offsets(
    kafka_bootstrap: str, region_a: S3Server, tmp_path: Path
) -> None:
    stays, goes = await filled_topic(kafka_bootstrap), await filled_topic(kafka_bootstrap, 100)
    bucket = region_a.new_bucket("deleted")
    store = store_args(region_a, bucket)
    opened = await _listed(kafka_bootstrap, objects(region_a, bucket), (stays, goes), "shop/d")
    ends = {p.partition: p.end for p in opened.partitions if p.topic == goes}
    await _delete_topic(kafka_bootstrap, goes)  # tansu re-creates it, empty, when the run
    # asks for its metadata (aiokafka asks allowing auto-creation): its log ends at 0

    args = run_args("shop/d", kafka_bootstrap, [stays, goes], store, "--read-timeout", "2s")
    partial = await tidal(args, tmp_path)
    assert partial.exit_code == 3, partial.output
    assert partial.result["error"]["reason"] == "PartitionsUnreadable"
    assert partial.result["backup"]["unreadable"] == [
        {"topic": goes, "partition": p, "from": 0, "to": end - 1, "reason": "LogTruncated"}
        for p, end in sorted(ends.items())
    ]
    assert partial.result["counts"]["events"] == EVENTS
