"""One trace follows an event across real processes: the first service's receive, handle and
emit spans, then the second service's, all exported over OTLP to a collector; and the JSON log
lines of both handlers name that trace."""

from __future__ import annotations

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
from tests.support.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE}-b7ad6b7169203331-01"


def launch(reference: str, port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.observability.apps.launch", reference],
        cwd=ROOT,
        env={**os.environ, "TIDAL_HOST": "127.0.0.1", "TIDAL_PORT": str(port), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_port(port)
    return proc


@pytest.fixture
def two_services() -> Iterator[tuple[str, Collector, list[subprocess.Popen[str]]]]:
    with otlp_collector() as collector:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "TIDAL_LOG_LEVEL": "INFO",
            "TIDAL_IDEMPOTENCY__BACKEND": "none",
        }
        second_port, first_port = free_port(), free_port()
        procs = [launch("tests.observability.apps.hops:second", second_port, env)]
        sink = {"K_SINK": f"http://127.0.0.1:{second_port}/"}
        procs.append(launch("tests.observability.apps.hops:first", first_port, {**env, **sink}))
        try:
            yield f"http://127.0.0.1:{first_port}/", collector, procs
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=15)


def wait_for_spans(collector: Collector, count: int) -> dict[tuple[str, str], Span]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        spans = collector.snapshot()
        if len(spans) >= count:
            return {(s.service, s.name): s for s in spans}
        time.sleep(0.1)
    raise AssertionError(f"only {collector.snapshot()} arrived")


def test_an_event_and_its_receipt_share_one_trace_across_services(
    two_services: tuple[str, Collector, list[subprocess.Popen[str]]],
) -> None:
    url, collector, procs = two_services
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "o-42",
        "ce-source": "/pos",
        "ce-type": "order.v1",
        "ce-traceparent": TRACEPARENT,
        "content-type": "application/json",
    }
    assert httpx.post(url, headers=headers, content=b"{}", timeout=10).status_code == 200
    spans = wait_for_spans(collector, 5)
    first = ("obs-first", "receive order.v1"), ("obs-first", "handle order")
    emit = ("obs-first", "emit order")
    second = ("obs-second", "receive receipt.v1"), ("obs-second", "handle receipt")
    assert {spans[key].trace_id for key in (*first, emit, *second)} == {TRACE}
    assert spans[first[0]].parent_id == "b7ad6b7169203331"
    assert spans[first[1]].parent_id == spans[first[0]].span_id
    assert spans[emit].parent_id == spans[first[1]].span_id
    assert spans[second[0]].parent_id == spans[first[1]].span_id
    assert spans[second[1]].parent_id == spans[second[0]].span_id
    assert spans[second[0]].attributes["cloudevents.event_type"] == "receipt.v1"
    assert spans[second[1]].attributes["tidal.subscription"] == "receipt"

    for proc in procs:
        proc.terminate()
    logs = [
        json.loads(line)
        for proc in procs
        for line in proc.communicate(timeout=15)[1].splitlines()
        if line.startswith("{")
    ]
    handled = {line["message"].split()[0]: line for line in logs if line.get("subscription")}
    assert handled["order"]["trace_id"] == TRACE
    assert handled["order"]["span_id"] == spans[first[1]].span_id
    assert handled["receipt"]["trace_id"] == TRACE
    assert handled["receipt"]["event_type"] == "receipt.v1"
    assert handled["receipt"]["service"] == "obs-second"
