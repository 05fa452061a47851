"""A real ``tidal dlq drain`` process serves what it archived at ``/metrics``: dead letters sent
to a tansu broker after it started are counted in ``tidal_dlq_archive_events_total`` for its
``--archive`` (scraped over HTTP, as Prometheus does), with the segments and bytes it wrote into
a moto S3 bucket; on SIGTERM it exits cleanly with the same counts in its result file.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.archive.conftest import produce_events, store_args
from tests.archive.test_dlq import letter
from tests.support.kafka import create_topic, unique
from tests.support.objectstore import CREDENTIALS, S3Server
from tests.support.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ARCHIVE = {"resource_namespace": "shop", "archive": "orders-dlq"}
LABELS = {"service": "tidal-dlq-drain", **ARCHIVE}
N = 25


def scrape(port: int) -> dict[str, float]:
    """The drainer's samples of this archive, by name (an HTTP scrape of /metrics)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels == LABELS
    }


@contextmanager
def drainer(args: list[str], metrics_port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, **CREDENTIALS, "TIDAL_HOST": "127.0.0.1"}
    env.pop("TIDAL_SERVICE", None)
    env.pop("K_SERVICE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "tidal.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(metrics_port, timeout=30)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


async def test_the_drainer_counts_the_dead_letters_it_archived_at_its_metrics(
    kafka_bootstrap: str, region_a: S3Server, tmp_path: Path
) -> None:
    topic = unique("orders")
    dlq = f"{topic}.dlq"
    await create_topic(kafka_bootstrap, dlq, partitions=2)
    bucket = region_a.new_bucket("dlq-metrics")
    port, result_file = free_port(), tmp_path / "result.json"
    args = [
        "dlq", "drain", "--archive", "shop/orders-dlq",
        *store_args(region_a, bucket, "dlq-archive/"),
        "--bootstrap-servers", kafka_bootstrap, "--group", unique("drain"), "--topic", dlq,
        "--partition-by-type", "--segment-max-events", "1000", "--segment-max-age", "1s",
        "--metrics-port", str(port), "--result-file", str(result_file),
    ]  # fmt: skip
    with drainer(args, port) as process:
        before = scrape(port)
        assert before["tidal_dlq_archive_events_total"] == 0, "exported from the start"
        now = datetime.now(UTC)
        await produce_events(
            kafka_bootstrap, dlq, [letter(i, topic, dlq, failed=now) for i in range(N)]
        )

        deadline = time.monotonic() + 30
        samples = scrape(port)
        while samples["tidal_dlq_archive_events_total"] < N and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            samples = scrape(port)
        assert samples["tidal_dlq_archive_events_total"] == N

        listed = region_a.client().list_objects_v2(Bucket=bucket, Prefix="dlq-archive/dlq/")
        stored = listed["Contents"]  # the letters (not the owner marker)
        assert samples["tidal_dlq_archive_objects_total"] == len(stored)
        assert samples["tidal_dlq_archive_written_bytes_total"] == sum(o["Size"] for o in stored)

        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr.decode()
    result = json.loads(result_file.read_text())
    assert result["counts"] == {
        "events": N,
        "objects": len(stored),
        "bytes": sum(o["Size"] for o in stored),
    }
    with pytest.raises(httpx.TransportError):  # the listener went with the process
        scrape(port)
