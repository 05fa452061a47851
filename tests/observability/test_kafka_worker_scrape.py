"""A real Prometheus scraping a real ``tidal run --transport kafka`` process on tansu: the
worker registers its consumer measures, so lag, offsets, per-type event counts, cold start
and identity reach Prometheus from the worker itself (no stand-in)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.observability.prometheus_stack import ROOT, Stack, start_prometheus, wait_until
from tests.support.kafka import create_topic, idempotence_supported, produce, unique
from tests.support.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration
SERVICE = "obs-ledger-kafka"
ENTRIES_BEFORE, ENTRIES_AFTER = 10, 5  # one partition: entries, the held event, entries
TOTAL = ENTRIES_BEFORE + 1 + ENTRIES_AFTER
SOURCE = f'service="{SERVICE}",topic=~"scrape-source-.*"'  # not the retry topics


def _record(event_type: str, n: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", f"{event_type}-{n}".encode()),
        ("ce_source", b"/scrape"),
        ("ce_type", event_type.encode()),
        ("content-type", b"application/json"),
    ]
    return f"k{n}".encode(), json.dumps({"n": n}).encode(), headers


@pytest.fixture(scope="module")
def scraped(kafka_bootstrap: str) -> Iterator[Stack]:
    topic = unique("scrape-source")
    records = [_record("entry.v1", n) for n in range(ENTRIES_BEFORE)]
    records += [_record("hold.v1", 0)]
    records += [_record("entry.v1", ENTRIES_BEFORE + n) for n in range(ENTRIES_AFTER)]
    asyncio.run(create_topic(kafka_bootstrap, topic, partitions=1))
    asyncio.run(produce(kafka_bootstrap, topic, records))
    metrics_port, prometheus_port = free_port(), free_port()
    env = {
        "TIDAL_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
        "TIDAL_KAFKA__TOPICS": topic,
        "TIDAL_KAFKA__GROUP_ID_PREFIX": unique("scrape"),
        "TIDAL_KAFKA__IDEMPOTENT_PRODUCER": str(idempotence_supported(kafka_bootstrap)).lower(),
        "TIDAL_KAFKA__COMMIT_INTERVAL": "0.2",
        "TIDAL_OBSERVABILITY__METRICS_PORT": str(metrics_port),
        "TIDAL_HOST": "127.0.0.1",
        "TIDAL_SHUTDOWN_GRACE": "1",
        "TIDAL_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "tidal.cli", "run", "--transport", "kafka"]
    worker = subprocess.Popen(
        [*command, "tests.observability.apps.ledger:app"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(metrics_port, timeout=60)
        with tempfile.TemporaryDirectory() as workdir:
            prometheus = start_prometheus(
                Path(workdir), prometheus_port, [f"127.0.0.1:{metrics_port}"]
            )
            try:
                stack = Stack(f"http://127.0.0.1:{prometheus_port}", {})
                wait_until(stack, "up == 1", timeout=60)
                yield stack
            finally:
                prometheus.terminate()
                prometheus.wait(15)
    finally:
        worker.terminate()
        assert worker.wait(30) == 0, "the worker did not drain and exit cleanly on SIGTERM"


def _values(stack: Stack, expr: str, *, want: int, within: float = 60.0) -> dict[str, float]:
    """``{subscription: value}`` of ``expr`` once it has ``want`` series (a scrape every s)."""
    deadline, found = time.monotonic() + within, {}
    while time.monotonic() < deadline:
        answer = stack.query(expr)
        series = answer["data"]["result"]  # type: ignore[index]
        found = {s["metric"].get("subscription", ""): float(s["value"][1]) for s in series}
        if len(found) >= want:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{expr}: {found} after {within}s")


def test_lag_is_the_records_behind_the_held_event(scraped: Stack) -> None:
    expr = f'sum by (subscription) (tidal_consumer_lag{{service="{SERVICE}"}})'
    deadline = time.monotonic() + 60
    while (lag := _values(scraped, expr, want=2)) != {"entry": 0.0, "hold": TOTAL - ENTRIES_BEFORE}:
        assert time.monotonic() < deadline, f"lag: {lag}"
        time.sleep(0.5)
    ends = _values(scraped, f"tidal_consumer_log_end_offset{{{SOURCE}}}", want=2)
    assert ends == {"entry": TOTAL, "hold": TOTAL}
    committed = _values(scraped, f"tidal_consumer_committed_offset{{{SOURCE}}}", want=2)
    assert committed == {"entry": TOTAL, "hold": ENTRIES_BEFORE}  # the held event's offset


def test_events_are_counted_per_type(scraped: Stack) -> None:
    entries = ENTRIES_BEFORE + ENTRIES_AFTER
    handled = f'tidal_events_total{{service="{SERVICE}",outcome="handled",event_type="entry.v1"}}'
    deadline = time.monotonic() + 60
    while _values(scraped, handled, want=1) != {"entry": entries}:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    received = _values(
        scraped, f'tidal_events_total{{service="{SERVICE}",outcome="received"}}', want=2
    )
    assert received == {"entry": entries, "hold": 1.0}
    # filtered-out events are counted as "other" (issue 17: producers choose event types)
    filtered = f'tidal_events_total{{service="{SERVICE}",outcome="filtered",event_type="other"}}'
    assert _values(scraped, filtered, want=2) == {"hold": entries, "entry": 1.0}
    records = _values(scraped, f'tidal_consumer_records_total{{service="{SERVICE}"}}', want=2)
    assert records == {"entry": TOTAL, "hold": TOTAL}


def test_the_worker_reports_its_cold_start_and_identity(scraped: Stack) -> None:
    cold = _values(scraped, f'tidal_cold_start_seconds{{service="{SERVICE}"}}', want=1)
    assert 0 < cold[""] < 60
    info = scraped.query(f'tidal_info{{service="{SERVICE}"}}')["data"]["result"]  # type: ignore[index]
    assert [s["metric"]["transport"] for s in info] == ["kafka"]
