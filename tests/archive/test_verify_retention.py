"""Verification, retention and client-side encryption of backups, against a moto S3 server:
a corrupted segment fails with ``ChecksumMismatch`` naming it (result file and exit code),
retention keeps the newest verified backup, a client-side encrypted backup restores only with
its key."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
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

from tidal_data import backups
from tidal_data.kafka import consumer, kafka_settings, start, stop
from tidal_data.keys import backup_prefix
from tidal_data.runs import ArchiveOptions, Retention, Sources, archive_backup, extend
from tidal_data.store import ObjectStore, StoreConfig
from tidal_data.writer import save_manifest

pytestmark = pytest.mark.integration

EVENTS = 3_000


@pytest.fixture
async def topic(kafka_bootstrap: str) -> str:
    name = await new_topic(kafka_bootstrap, partitions=2)
    await produce_events(kafka_bootstrap, name, [cloud_event(i, keys=20) for i in range(EVENTS)])
    return name


def backup_args(bootstrap: str, topic: str, store: list[str], *extra: str) -> list[str]:
    return [
        "backup", "run", "--policy", "tests/p", "--bootstrap-servers", bootstrap,
        "--topic", topic, *store, "--segment-max-events", "500", *extra,
    ]  # fmt: skip


async def test_a_corrupted_segment_fails_verification_and_is_named(
    kafka_bootstrap: str, topic: str, region_a: S3Server, tmp_path: Path
) -> None:
    bucket = region_a.new_bucket("verify")
    store = store_args(region_a, bucket)
    done = await tidal(backup_args(kafka_bootstrap, topic, store), tmp_path)
    assert done.exit_code == 0, done.output
    identifier = done.result["backup"]["id"]
    client = region_a.client()
    key = next(
        o["Key"]
        for o in client.list_objects_v2(Bucket=bucket, Prefix=backup_prefix(identifier, "tests.p"))[
            "Contents"
        ]
        if ".seg" in o["Key"]
    )
    body = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    client.put_object(Bucket=bucket, Key=key, Body=bytes(body))

    verified = await tidal(["backup", "verify", *store, "--id", identifier], tmp_path)
    assert verified.exit_code == 1
    assert verified.result["outcome"] == "failed"
    assert verified.result["error"]["reason"] == "ChecksumMismatch"
    assert key in verified.result["error"]["message"]

    restored = await tidal(
        ["restore", *store, "--backup-id", identifier, "--bootstrap-servers", kafka_bootstrap,
         "--topic-prefix", "never."],
        tmp_path,
    )  # fmt: skip
    assert restored.exit_code == 1
    assert restored.result["error"]["reason"] == "ChecksumMismatch", restored.output
    assert key in restored.result["error"]["message"]


async def test_retention_deletes_old_and_surplus_backups_but_keeps_the_newest_verified(
    kafka_bootstrap: str, topic: str, region_a: S3Server, tmp_path: Path
) -> None:
    bucket = region_a.new_bucket("retention")
    store = store_args(region_a, bucket)
    config = StoreConfig(
        bucket=bucket, region=region_a.region, endpoint=region_a.endpoint, path_style=True
    )
    objects = ObjectStore(config)
    now = datetime.now(UTC)
    client = consumer(kafka_settings(kafka_bootstrap))
    await start(client, kafka_bootstrap)
    try:  # three old backups: 60 days (verified), 50 and 40 days (not verified)
        for age in (60, 50, 40):
            outcome = await archive_backup(
                client,
                objects,
                Sources(topics=(topic,)),
                ArchiveOptions(policy="tests/p", max_events=1000),
                now=now - timedelta(days=age),
            )
            if age == 60:
                backups.verify(objects, outcome.manifest)
                outcome.manifest.verified = True
                save_manifest(objects, outcome.manifest)
    finally:
        await stop(client)
    old = [m.id for m in backups.manifests(objects, "tests/p")]
    assert len(old) == 3

    unverified = await tidal(
        backup_args(kafka_bootstrap, topic, store, "--no-verify", "--retention-max-age", "35d"),
        tmp_path,
    )
    assert unverified.exit_code == 0, unverified.output
    assert unverified.result["backup"]["verified"] is False
    kept = [m.id for m in backups.manifests(objects, "tests/p")]
    assert kept == [old[0], unverified.result["backup"]["id"]]  # the verified one stays
    assert unverified.result["stored"]["backups"] == 2

    runs = [
        await tidal(
            backup_args(kafka_bootstrap, topic, store, "--retention-max-count", "2"), tmp_path
        )
        for _ in range(2)
    ]
    assert all(r.exit_code == 0 for r in runs), [r.output for r in runs]
    kept = [m.id for m in backups.manifests(objects, "tests/p")]
    assert kept == [r.result["backup"]["id"] for r in runs]
    assert runs[-1].result["stored"] == {
        "backups": 2,
        "objects": sum(len(m.segments) + 1 for m in backups.manifests(objects, "tests/p")),
        "events": 2 * EVENTS,
        "bytes": sum(m.size for m in backups.manifests(objects, "tests/p")),
    }
    leftovers = region_a.client().list_objects_v2(
        Bucket=bucket, Prefix=backup_prefix(old[0], "tests.p")
    )
    assert leftovers["KeyCount"] == 0


async def test_client_side_encrypted_backups_restore_only_with_their_key(
    kafka_bootstrap: str, topic: str, cluster_b: str, region_b: S3Server, tmp_path: Path
) -> None:
    key_file, wrong_key = tmp_path / "key", tmp_path / "wrong"
    key_file.write_bytes(base64.b64encode(os.urandom(32)))
    wrong_key.write_bytes(os.urandom(32))
    bucket = region_b.new_bucket("encrypted")
    store = store_args(region_b, bucket, "cse/")
    encryption = ["--encryption", "client-side", "--encryption-key-file"]
    done = await tidal(
        backup_args(kafka_bootstrap, topic, store, *encryption, str(key_file)), tmp_path
    )
    assert done.exit_code == 0, done.output
    assert done.result["backup"]["verified"] is True
    client = region_b.client()
    stored = client.list_objects_v2(Bucket=bucket, Prefix="cse/backups/")["Contents"]
    for item in stored:
        assert client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().startswith(b"TENC2")

    target = ["--bootstrap-servers", cluster_b, "--topic-prefix", "cse."]
    refused = await tidal(["restore", *store, *encryption, str(wrong_key), *target], tmp_path)
    assert refused.exit_code == 1
    assert refused.result["error"]["reason"] == "CorruptSegment"

    restored = await tidal(["restore", *store, *encryption, str(key_file), *target], tmp_path)
    assert restored.exit_code == 0, restored.output
    source, copy = await read_all(kafka_bootstrap, topic), await read_all(cluster_b, f"cse.{topic}")
    assert {p: [essence(r) for r in rs] for p, rs in copy.items()} == {
        p: [essence(r) for r in rs] for p, rs in source.items()
    }


async def test_continuous_mode_extends_todays_backup_with_what_arrived(
    kafka_bootstrap: str, topic: str, region_a: S3Server
) -> None:
    bucket = region_a.new_bucket("continuous")
    config = StoreConfig(
        bucket=bucket, region=region_a.region, endpoint=region_a.endpoint, path_style=True
    )
    objects = ObjectStore(config)
    sources, options = Sources(topics=(topic,)), ArchiveOptions(policy="tests/c", max_events=700)
    retention = Retention(max_age=timedelta(days=35))
    client = consumer(kafka_settings(kafka_bootstrap))
    await start(client, kafka_bootstrap)
    try:
        first = await extend(client, objects, sources, options, retention, now=datetime.now(UTC))
        assert first.events == EVENTS
        more = [cloud_event(i, keys=20) for i in range(EVENTS, EVENTS + 1200)]
        await produce_events(kafka_bootstrap, topic, more)
        second = await extend(client, objects, sources, options, retention, now=datetime.now(UTC))
        idle = await extend(client, objects, sources, options, retention, now=datetime.now(UTC))
    finally:
        await stop(client)
    assert second.manifest.id == first.manifest.id
    assert second.events == 1200
    assert idle.events == 0
    (manifest,) = backups.manifests(objects, "tests/c")
    assert manifest.verified
    assert manifest.state == "complete"
    assert manifest.events == EVENTS + 1200
    for part in manifest.partitions:
        segments = manifest.segments_of(part.topic, part.partition)
        assert [s.first for s in segments[1:]] == [s.last + 1 for s in segments[:-1]]
        assert segments[-1].last + 1 == part.end


async def test_rotating_the_client_side_key_keeps_backups_running_and_readable(
    kafka_bootstrap: str, topic: str, cluster_b: str, region_b: S3Server, tmp_path: Path
) -> None:
    """Issue 16, finding 7: after a rotation the new key writes, the old one (a previous key)
    reads; without it, ``ls`` names what it cannot read instead of a traceback."""
    old, new = tmp_path / "old", tmp_path / "new"
    old.write_bytes(os.urandom(32))
    new.write_bytes(os.urandom(32))
    store = store_args(region_b, region_b.new_bucket("rotated"))
    encryption = ["--encryption", "client-side", "--encryption-key-file"]
    before = await tidal(
        backup_args(kafka_bootstrap, topic, store, *encryption, str(old)), tmp_path
    )
    assert before.exit_code == 0, before.output

    rotated = [*encryption, str(new), "--previous-key-file", str(old)]
    after = await tidal(backup_args(kafka_bootstrap, topic, store, *rotated), tmp_path)
    assert after.exit_code == 0, after.output
    assert after.result["backup"]["verified"] is True

    listed = await tidal(["backup", "ls", *store, *encryption, str(new)], tmp_path, result=False)
    assert listed.exit_code == 0, listed.output
    assert "unreadable" in listed.output
    assert after.result["backup"]["id"] in listed.output

    old_one = before.result["backup"]["id"]
    restored = await tidal(
        ["restore", *store, *rotated, "--backup-id", old_one, "--bootstrap-servers", cluster_b,
         "--topic-prefix", "rot."],
        tmp_path,
    )  # fmt: skip
    assert restored.exit_code == 0, restored.output
    assert restored.result["counts"]["events"] == EVENTS

    pruned = await tidal(
        backup_args(kafka_bootstrap, topic, store, *rotated, "--retention-max-count", "1"),
        tmp_path,
    )
    assert pruned.exit_code == 0, pruned.output
    assert pruned.result["stored"]["backups"] == 1


async def test_object_lock_keeps_every_backup_object_from_the_backups_own_credentials(
    kafka_bootstrap: str, topic: str, region_a: S3Server, tmp_path: Path
) -> None:
    """Issue 16, finding 6: with S3 Object Lock (compliance) on every object written, what the
    backup pod's credentials can do is add delete markers; no version can be destroyed."""
    client = region_a.client()
    bucket = f"locked-{os.urandom(4).hex()}"
    client.create_bucket(
        Bucket=bucket,
        CreateBucketConfiguration={"LocationConstraint": region_a.region},
        ObjectLockEnabledForBucket=True,
    )
    store = store_args(region_a, bucket)
    lock = ["--object-lock-mode", "compliance", "--object-lock-days", "2"]
    done = await tidal(backup_args(kafka_bootstrap, topic, store, *lock), tmp_path)
    assert done.exit_code == 0, done.output
    versions = client.list_object_versions(Bucket=bucket)["Versions"]
    assert versions
    for version in versions:
        head = client.head_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(days=1)
    victim = next(v for v in versions if ".seg" in v["Key"])
    with pytest.raises(client.exceptions.ClientError, match="AccessDenied"):
        client.delete_object(Bucket=bucket, Key=victim["Key"], VersionId=victim["VersionId"])

    plain = region_a.new_bucket("unlocked")
    refused = await tidal(
        backup_args(kafka_bootstrap, topic, store_args(region_a, plain), *lock), tmp_path
    )
    assert refused.exit_code == 1
    assert refused.result["error"]["reason"] == "StoreObjectLockDisabled"
