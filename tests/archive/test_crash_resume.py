"""A crash mid-archive resumes with no gap and no duplicate: a ``tidal archive`` process killed
(SIGKILL) while it uploads, and a failure injected between a segment's upload and the manifest
update that records it (the segment is then found under its key and adopted)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests.archive.conftest import cloud_event, new_topic, produce_events, store_args, tidal
from tests.support.kafka import ROOT
from tests.support.objectstore import S3Server

from tidal_data import writer
from tidal_data.keys import backup_prefix, manifest_key
from tidal_data.segments import unpack

pytestmark = pytest.mark.integration


def _manifest(server: S3Server, bucket: str, backup: str) -> dict[str, Any] | None:
    client = server.client()
    try:
        body = client.get_object(Bucket=bucket, Key=manifest_key(backup))["Body"].read()
    except client.exceptions.NoSuchKey:
        return None
    return dict(json.loads(body))


def _assert_exactly_once(server: S3Server, bucket: str, backup: str, expected: int) -> None:
    """Every offset of every partition in exactly one segment, the segments as recorded."""
    manifest = _manifest(server, bucket, backup)
    assert manifest is not None
    assert manifest["state"] == "complete"
    client = server.client()
    for part in manifest["partitions"]:
        segments = sorted(
            (s for s in manifest["segments"] if s["partition"] == part["partition"]),
            key=lambda s: s["first"],
        )
        offsets: list[int] = []
        for segment in segments:
            body = client.get_object(Bucket=bucket, Key=segment["key"])["Body"].read()
            records = unpack(body, "zstd")
            assert len(records) == segment["count"]
            offsets += [r.offset for r in records]
        assert offsets == list(range(part["start"], part["end"])), "a gap or a duplicate"
    assert sum(s["count"] for s in manifest["segments"]) == expected
    listed = client.list_objects_v2(Bucket=bucket, Prefix=backup_prefix(backup))
    assert len(listed["Contents"]) == len(manifest["segments"]) + 1  # no stray segment


async def test_a_killed_archive_resumes_with_no_gap_and_no_duplicate(
    kafka_bootstrap: str, region_a: S3Server, tmp_path: Path
) -> None:
    events = 40_000
    topic = await new_topic(kafka_bootstrap, partitions=2)
    await produce_events(kafka_bootstrap, topic, [cloud_event(i, keys=50) for i in range(events)])
    bucket = region_a.new_bucket("archive")
    args = [
        "archive", "--bootstrap-servers", kafka_bootstrap, "--topic", topic,
        *store_args(region_a, bucket), "--id", "crash-1", "--segment-max-events", "500",
        "--manifest-interval", "0",  # recorded per segment: the kill lands mid-way, however fast
    ]  # fmt: skip
    log = (tmp_path / "archive.log").open("wb")
    proc = subprocess.Popen(  # noqa: ASYNC220 - starting it does not block
        [sys.executable, "-m", "tidal.cli", *args], cwd=ROOT, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            manifest = await asyncio.to_thread(_manifest, region_a, bucket, "crash-1")
            if manifest and len(manifest["segments"]) >= 6:
                break
            assert proc.poll() is None, (tmp_path / "archive.log").read_text()
            assert time.monotonic() < deadline, "the archive never got going"
            await asyncio.sleep(0.05)
        proc.kill()
    finally:
        proc.wait(10)
        log.close()
    interrupted = await asyncio.to_thread(_manifest, region_a, bucket, "crash-1")
    assert interrupted is not None
    assert interrupted["state"] == "open"
    assert sum(s["count"] for s in interrupted["segments"]) < events

    resumed = await tidal([*args, "--progress"], tmp_path)
    assert resumed.exit_code == 0, resumed.output
    assert resumed.result["counts"]["events"] < events  # only what was missing
    assert "events/s" in resumed.output  # the progress bar (on stderr)
    await asyncio.to_thread(_assert_exactly_once, region_a, bucket, "crash-1", events)

    again = await tidal(args, tmp_path)  # idempotent: a finished backup gains nothing
    assert again.exit_code == 0, again.output
    assert again.result["counts"]["events"] == 0


async def test_a_failure_between_upload_and_manifest_adopts_the_uploaded_segment(
    kafka_bootstrap: str, region_a: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = 5_000
    topic = await new_topic(kafka_bootstrap, partitions=1)
    await produce_events(kafka_bootstrap, topic, [cloud_event(i, keys=10) for i in range(events)])
    bucket = region_a.new_bucket("archive")
    args = [
        "archive", "--bootstrap-servers", kafka_bootstrap, "--topic", topic,
        *store_args(region_a, bucket), "--id", "inject-1", "--segment-max-events", "1000",
        "--manifest-interval", "0",  # a manifest write per segment
    ]  # fmt: skip
    real, calls = writer.save_manifest, []

    def failing(store: Any, manifest: Any) -> None:
        calls.append(manifest.id)
        if len(calls) == 3:
            raise OSError("injected: the process dies before the manifest is written")
        real(store, manifest)

    monkeypatch.setattr(writer, "save_manifest", failing)
    crashed = await tidal(args, tmp_path)
    assert crashed.exit_code == 1
    assert crashed.result["outcome"] == "failed"
    assert crashed.result["error"]["reason"] == "InternalError"
    recorded = await asyncio.to_thread(_manifest, region_a, bucket, "inject-1")
    assert recorded is not None
    assert len(recorded["segments"]) == 2  # the third segment is uploaded, not recorded
    listed = region_a.client().list_objects_v2(Bucket=bucket, Prefix=backup_prefix("inject-1"))
    assert len(listed["Contents"]) >= 2 + 1 + 1  # (and maybe more that were in flight)

    monkeypatch.setattr(writer, "save_manifest", real)
    resumed = await tidal(args, tmp_path)
    assert resumed.exit_code == 0, resumed.output
    await asyncio.to_thread(_assert_exactly_once, region_a, bucket, "inject-1", events)
