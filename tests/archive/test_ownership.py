"""Issue 16, findings 1, 2 and 6, on tansu and moto: a store prefix belongs to one policy and
nothing touches another's backups; a missing topic makes a run PartiallyFailed and retention
keeps the last backup holding it; verification that fails is recorded and restore falls back
to the newest backup that verifies."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
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

from tidal_data import backups
from tidal_data.kafka import consumer, kafka_settings, start, stop
from tidal_data.keys import backup_prefix
from tidal_data.runs import ArchiveOptions, Sources, archive_backup, verify_and_mark
from tidal_data.store import ObjectStore, StoreConfig

pytestmark = pytest.mark.integration

EVENTS = 600


def run_args(
    policy: str, bootstrap: str, topics: list[str], store: list[str], *extra: str
) -> list[str]:
    named = [item for topic in topics for item in ("--topic", topic)]
    return ["backup", "run", "--policy", policy, "--bootstrap-servers", bootstrap, *named, *store,
            "--segment-max-events", "200", *extra]  # fmt: skip


def objects(server: S3Server, bucket: str, prefix: str = "") -> ObjectStore:
    config = StoreConfig(
        bucket=bucket, prefix=prefix, region=server.region, endpoint=server.endpoint,
        path_style=True,
    )  # fmt: skip
    return ObjectStore(config)


async def filled_topic(bootstrap: str, events: int = EVENTS) -> str:
    topic = await new_topic(bootstrap, partitions=2)
    await produce_events(bootstrap, topic, [cloud_event(i, keys=10) for i in range(events)])
    return topic


async def test_a_second_policy_on_the_same_prefix_is_refused_and_deletes_nothing(
    kafka_bootstrap: str, region_a: S3Server, tmp_path: Path
) -> None:
    topic = await filled_topic(kafka_bootstrap)
    bucket = region_a.new_bucket("shared")
    store = store_args(region_a, bucket)  # the default prefix: empty
    first = await tidal(run_args("shop/a", kafka_bootstrap, [topic], store), tmp_path)
    assert first.exit_code == 0, first.output
    said = f"backup {first.result['backup']['id']}: {EVENTS} events"  # finding 10: it says so
    assert said in first.output, first.output

    second = await tidal(
        run_args("shop/b", kafka_bootstrap, [topic], store, "--retention-max-count", "1"), tmp_path
    )
    assert second.exit_code == 1
    assert second.result["error"]["reason"] == "PrefixOwned", second.result
    kept = [m.id for m in backups.manifests(objects(region_a, bucket), "shop/a")]
    assert kept == [first.result["backup"]["id"]]
    keys = [o["Key"] for o in region_a.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert all(k.startswith(("backups/policy=shop.a/", "owners/")) for k in keys), keys


async def test_retention_and_restore_never_touch_backups_of_no_or_another_policy(
    kafka_bootstrap: str, cluster_b: str, region_a: S3Server, tmp_path: Path
) -> None:
    mine, theirs = await filled_topic(kafka_bootstrap), await filled_topic(kafka_bootstrap, 50)
    bucket = region_a.new_bucket("mixed")
    store = store_args(region_a, bucket, "dr/")
    first = await tidal(run_args("shop/a", kafka_bootstrap, [mine], store), tmp_path)
    assert first.exit_code == 0, first.output
    shared = objects(region_a, bucket, "dr/")
    client = consumer(kafka_settings(kafka_bootstrap))
    await start(client, kafka_bootstrap)
    try:  # a newer, verified backup of no policy (``tidal archive``) in the same prefix
        other = await archive_backup(
            client, shared, Sources(topics=(theirs,)), ArchiveOptions(), now=datetime.now(UTC)
        )
    finally:
        await stop(client)
    verify_and_mark(shared, other.manifest)

    again = await tidal(
        run_args("shop/a", kafka_bootstrap, [mine], store, "--retention-max-count", "1"), tmp_path
    )
    assert again.exit_code == 0, again.output
    assert [m.id for m in backups.manifests(shared)] == [other.manifest.id]
    assert [m.id for m in backups.manifests(shared, "shop/a")] == [again.result["backup"]["id"]]

    target = ["--bootstrap-servers", cluster_b, "--topic-prefix", "mixed."]
    ambiguous = await tidal(["restore", *store, *target], tmp_path)
    assert ambiguous.exit_code == 1
    assert ambiguous.result["error"]["reason"] == "AmbiguousPolicy"
    restored = await tidal(["restore", *store, "--policy", "shop/a", *target], tmp_path)
    assert restored.exit_code == 0, restored.output
    assert restored.result["backup"]["id"] == again.result["backup"]["id"]
    assert restored.result["counts"]["events"] == EVENTS


async def test_a_missing_topic_is_partially_failed_and_its_last_backup_is_kept(
    kafka_bootstrap: str, region_a: S3Server, tmp_path: Path
) -> None:
    stays, goes = await filled_topic(kafka_bootstrap), await filled_topic(kafka_bootstrap, 100)
    bucket = region_a.new_bucket("gone")
    store = store_args(region_a, bucket)
    both = await tidal(run_args("shop/g", kafka_bootstrap, [stays, goes], store), tmp_path)
    assert both.exit_code == 0, both.output

    misspelt = f"{stays}-typo"
    typo = await tidal(run_args("shop/g", kafka_bootstrap, [stays, misspelt], store), tmp_path)
    assert typo.exit_code == 3, typo.output
    assert typo.result["outcome"] == "partiallyFailed"
    assert typo.result["error"]["reason"] == "TopicsMissing"
    assert misspelt in typo.result["error"]["message"]
    assert typo.result["backup"]["missingTopics"] == [misspelt]
    assert typo.result["counts"]["events"] == EVENTS  # the others were backed up

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([goes])
    finally:
        await admin.close()
    after = await tidal(
        run_args("shop/g", kafka_bootstrap, [stays, goes], store, "--retention-max-count", "1"),
        tmp_path,
    )
    assert after.exit_code == 3, after.output
    assert after.result["backup"]["missingTopics"] == [goes]
    kept = [m.id for m in backups.manifests(objects(region_a, bucket), "shop/g")]
    assert kept == [both.result["backup"]["id"], after.result["backup"]["id"]]


async def test_a_backup_that_stops_verifying_is_marked_and_restore_falls_back(
    kafka_bootstrap: str, cluster_b: str, region_a: S3Server, tmp_path: Path
) -> None:
    topic = await filled_topic(kafka_bootstrap)
    bucket = region_a.new_bucket("fallback")
    store = store_args(region_a, bucket)
    older = await tidal(run_args("shop/v", kafka_bootstrap, [topic], store), tmp_path)
    assert older.exit_code == 0, older.output
    await produce_events(kafka_bootstrap, topic, [cloud_event(i, keys=10) for i in range(100)])
    newer = await tidal(run_args("shop/v", kafka_bootstrap, [topic], store), tmp_path)
    assert newer.exit_code == 0, newer.output
    bad = newer.result["backup"]["id"]
    client = region_a.client()
    listed = client.list_objects_v2(Bucket=bucket, Prefix=backup_prefix(bad, "shop.v"))
    key = next(o["Key"] for o in listed["Contents"] if ".seg" in o["Key"])
    body = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    client.put_object(Bucket=bucket, Key=key, Body=bytes(body))

    verified = await tidal(["backup", "verify", *store, "--id", bad], tmp_path)
    assert verified.exit_code == 1
    listing = await tidal(["backup", "ls", *store], tmp_path, result=False)
    row = next(line for line in listing.output.splitlines() if line.startswith(bad))
    assert " False " in row, listing.output
    assert "ChecksumMismatch" in row, listing.output

    restored = await tidal(
        ["restore", *store, "--bootstrap-servers", cluster_b, "--topic-prefix", "fb."], tmp_path
    )
    assert restored.exit_code == 0, restored.output
    assert restored.result["backup"]["id"] == older.result["backup"]["id"]
    assert restored.result["counts"]["events"] == EVENTS
    copy = await read_all(cluster_b, f"fb.{topic}")
    source = await read_all(kafka_bootstrap, topic)
    assert {p: [essence(r) for r in rs] for p, rs in copy.items()} == {
        p: [essence(r) for r in rs if r.offset < len(copy[p])] for p, rs in source.items()
    }

    pruned = await tidal(
        run_args("shop/v", kafka_bootstrap, [topic], store, "--no-verify",
                 "--retention-max-count", "1"),
        tmp_path,
    )  # fmt: skip
    assert pruned.exit_code == 0, pruned.output
    kept = [m.id for m in backups.manifests(objects(region_a, bucket), "shop/v")]
    assert kept == [older.result["backup"]["id"], pruned.result["backup"]["id"]]


async def test_the_restore_test_restores_into_scratch_topics_and_compares(
    kafka_bootstrap: str, cluster_b: str, region_a: S3Server, tmp_path: Path
) -> None:
    """Issue 16, finding 6: nothing ever restored a backup to prove it; the restore test does
    (count and sha256 per partition) and leaves no scratch topic behind."""
    topic = await filled_topic(kafka_bootstrap)
    bucket = region_a.new_bucket("proof")
    store = store_args(region_a, bucket)
    done = await tidal(run_args("shop/t", kafka_bootstrap, [topic], store), tmp_path)
    assert done.exit_code == 0, done.output
    tested = await tidal(
        ["backup", "test-restore", *store, "--bootstrap-servers", cluster_b,
         "--scratch-prefix", "proof."],
        tmp_path,
    )  # fmt: skip
    assert tested.exit_code == 0, tested.output
    assert tested.result["backup"] == {
        "id": done.result["backup"]["id"], "verified": True, "restored": True,
    }  # fmt: skip
    assert tested.result["counts"] == {"events": EVENTS, "partitions": 2}
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster_b)
    await admin.start()
    try:
        assert not [t for t in await admin.list_topics() if t.startswith("proof.")]
    finally:
        await admin.close()


async def test_backups_of_the_previous_layout_still_list_restore_and_age_out(
    kafka_bootstrap: str, cluster_b: str, region_a: S3Server, tmp_path: Path
) -> None:
    """Migration: a backup written before scopes (``backups/<id>/``, its manifest naming the
    policy) is listed, restored and retained as that policy's, and no other's."""
    topic = await filled_topic(kafka_bootstrap)
    bucket = region_a.new_bucket("legacy")
    store = store_args(region_a, bucket)
    shared = objects(region_a, bucket)
    client = consumer(kafka_settings(kafka_bootstrap))
    await start(client, kafka_bootstrap)
    try:  # the unscoped layout, as `tidal backup run --policy shop/l` wrote it before
        old = await archive_backup(
            client, shared, Sources(topics=(topic,)), ArchiveOptions(), now=datetime.now(UTC)
        )
    finally:
        await stop(client)
    old.manifest.policy = "shop/l"
    verify_and_mark(shared, old.manifest)
    assert old.manifest.segments[0].key.startswith(f"backups/{old.manifest.id}/")

    listed = await tidal(["backup", "ls", *store, "--policy", "shop/l"], tmp_path, result=False)
    assert old.manifest.id in listed.output, listed.output
    restored = await tidal(
        ["restore", *store, "--policy", "shop/l", "--backup-id", old.manifest.id,
         "--bootstrap-servers", cluster_b, "--topic-prefix", "legacy."],
        tmp_path,
    )  # fmt: skip
    assert restored.exit_code == 0, restored.output
    assert restored.result["counts"]["events"] == EVENTS

    other = await tidal(run_args("shop/other", kafka_bootstrap, [topic], store_args(
        region_a, bucket, "elsewhere/")), tmp_path)  # fmt: skip
    assert other.exit_code == 0, other.output
    newer = await tidal(
        run_args("shop/l", kafka_bootstrap, [topic], store, "--retention-max-count", "1"), tmp_path
    )
    assert newer.exit_code == 0, newer.output
    assert [m.id for m in backups.manifests(shared, "shop/l")] == [newer.result["backup"]["id"]]
    leftovers = region_a.client().list_objects_v2(
        Bucket=bucket, Prefix=f"backups/{old.manifest.id}/"
    )
    assert leftovers["KeyCount"] == 0
