"""One trace from the edge through Kafka: a reading posted to the gateway (``python -m
services.gateway``, producing to tansu) is consumed by the fleet service (``tidal run --transport
kafka``), whose overheating alert goes back through the topic to its notify and maintenance
subscriptions. Every process exports over OTLP to one collector; every span is in the caller's
trace, each hop the child of the one before, and the gateway serves its own ``/metrics``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.observability.collector import Collector, Span, otlp_collector
from tests.support.kafka import create_topic, idempotence_supported, unique
from tests.support.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TRACE = "5c1d4e3f2a1b0c9d8e7f6a5b4c3d2e1f"
CALLER = "a1b2c3d4e5f60718"
TOKEN = "trace-token"
READING = {
    "vehicleId": "VH-1001",
    "messageId": "msg-trace-1",
    "timestamp": "2026-11-02T10:15:00Z",
    "coordinates": {"lat": 52.5096, "lon": 13.376},
    "metrics": {"speedKph": 42.5, "fuelPercentage": 61.5},
    "engineTemperature": {"value": 118.0, "unit": "C"},  # over 105 °C: overheating
}
SPANS = {
    ("gateway", "ingest /telemetry"),
    ("gateway", "emit telemetry"),
    ("fleet", "handle telemetry"),
    ("fleet", "emit telemetry"),
    ("fleet", "handle notify"),
    ("fleet", "handle maintenance"),
}


def start(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, timeout=60)
    return proc


@pytest.fixture
def pipeline(kafka_bootstrap: str) -> Iterator[tuple[str, Collector]]:
    topic = unique("traced")
    asyncio.run(create_topic(kafka_bootstrap, topic, partitions=1))
    with otlp_collector() as collector:
        common = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0",  # only the caller's sampled flag starts spans
            "TIDAL_HOST": "127.0.0.1",
            "TIDAL_LOG_LEVEL": "WARNING",
            "TIDAL_SHUTDOWN_GRACE": "1",
            "TIDAL_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
            "TIDAL_KAFKA__EMIT_TOPIC": topic,
            "TIDAL_KAFKA__IDEMPOTENT_PRODUCER": str(idempotence_supported(kafka_bootstrap)).lower(),
        }
        fleet_port, gateway_port = free_port(), free_port()
        fleet = {
            **common,
            "TIDAL_SERVICE": "fleet",
            "TIDAL_KAFKA__TOPICS": topic,
            "TIDAL_KAFKA__GROUP_ID_PREFIX": unique("traced"),
            "TIDAL_OBSERVABILITY__METRICS_PORT": str(fleet_port),
            "TIDAL_IDEMPOTENCY__BACKEND": "memory",
        }
        gateway = {**common, "TIDAL_PORT": str(gateway_port), "GATEWAY_TOKENS": TOKEN}
        procs = [
            start(
                ["-m", "tidal.cli", "run", "--transport", "kafka", "services.fleet.app:app"],
                fleet,
                fleet_port,
            ),
            start(["-m", "services.gateway"], gateway, gateway_port),
        ]
        try:
            yield f"http://127.0.0.1:{gateway_port}", collector
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)


def wait_for(collector: Collector, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], Span]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        spans = {(s.service, s.name): s for s in collector.snapshot()}
        if wanted <= spans.keys():
            return spans
        time.sleep(0.2)
    raise AssertionError(f"missing {wanted - spans.keys()}; got {sorted(spans)}")


def test_a_reading_and_its_alerts_are_one_trace_from_the_gateway_through_kafka(
    pipeline: tuple[str, Collector],
) -> None:
    url, collector = pipeline
    headers = {
        "authorization": f"Bearer {TOKEN}",
        "content-type": "application/json",
        "traceparent": f"00-{TRACE}-{CALLER}-01",
    }
    answer = httpx.post(f"{url}/telemetry", content=json.dumps(READING), headers=headers)
    assert answer.status_code == 202, answer.text
    spans = wait_for(collector, SPANS)
    assert {spans[key].trace_id for key in SPANS} == {TRACE}
    ingest = spans[("gateway", "ingest /telemetry")]
    assert ingest.parent_id == CALLER
    assert spans[("gateway", "emit telemetry")].parent_id == ingest.span_id
    handle = spans[("fleet", "handle telemetry")]
    assert handle.parent_id == ingest.span_id  # the hop through Kafka, in ce_traceparent
    assert handle.attributes["cloudevents.event_id"] == "msg-trace-1"
    assert spans[("fleet", "emit telemetry")].parent_id == handle.span_id
    for alert in ("notify", "maintenance"):  # the second hop, back through the topic
        assert spans[("fleet", f"handle {alert}")].parent_id == handle.span_id
    gateway = {s.name for s in collector.snapshot() if s.service == "gateway"}
    assert gateway == {"ingest /telemetry", "emit telemetry"}, "no unsampled framework spans"

    metrics = httpx.get(f"{url}/metrics").text
    assert 'tidal_http_requests_total{service="gateway",status="202"} 1.0' in metrics
    assert 'tidal_cold_start_seconds{service="gateway"}' in metrics
