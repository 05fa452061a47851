"""Prometheus export: what the transports count comes out at scrape time, Prometheus-named."""

from __future__ import annotations

import gc
import os
import random
import subprocess
from collections import Counter

import httpx
import pytest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from tidal import App, DeliveryPolicy, Event, InvalidEventError, RetryableError, prefix
from tidal._dispatching import Dispatcher
from tidal._stats import BUCKETS, DEFAULT_TYPE_LABELS, OTHER, OUTCOMES, Stats
from tidal._transports.http.asgi import Receiver, create_asgi_app
from tidal._transports.kafka.measures import KafkaMetrics, PartitionMeasures, SubscriptionMeasures
from tidal.observability import Source, register, unregister
from tidal.observability import _hooks as hooks
from tidal.observability import _sources as sources
from tidal.observability._collector import render
from tidal.observability._process_families import VERSION
from tidal.observability._sources import Drained
from tidal.testing import ManualClock, MemoryBroker, make_event
from tidal_data.dlq import DrainCounts

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape() -> Samples:
    body, _ = render()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def build_app() -> App:
    app = App("shop", policy=DeliveryPolicy.of(max_attempts=2, delay="PT1S"))

    @app.on(type="order.v1")
    def ok(event: Event) -> None:
        return None

    @app.on(type="flaky.v1", name="flaky")
    def flaky(event: Event) -> None:
        raise RetryableError("not now")

    @app.on(type="bad.v1", name="bad")
    def bad(event: Event) -> None:
        raise InvalidEventError("no total")

    return app


async def test_memory_deliveries_are_exported_by_subscription_type_and_outcome(
    clock: ManualClock,
) -> None:
    broker = MemoryBroker(build_app(), clock=clock, service="shop-dev")
    for event_type in ("order.v1", "order.v1", "flaky.v1", "bad.v1"):
        await broker.publish(make_event(event_type))
    await broker.drain()
    samples = scrape()
    labels = {"service": "shop-dev", "subscription": "ok", "event_type": "order.v1"}
    assert value(samples, "tidal_events_total", **labels, outcome="received") == 2
    assert value(samples, "tidal_events_total", **labels, outcome="handled") == 2
    flaky = {"service": "shop-dev", "subscription": "flaky", "event_type": "flaky.v1"}
    assert value(samples, "tidal_events_total", **flaky, outcome="retried") == 1
    # one outcome per attempt: the last one dead-lettered by tidal is not also "failed"
    assert value(samples, "tidal_events_total", **flaky, outcome="dead_lettered") == 1
    assert ("tidal_events_total", frozenset({**flaky, "outcome": "failed"}.items())) not in samples
    assert value(samples, "tidal_handler_duration_seconds_count", **labels) == 2
    assert value(samples, "tidal_handler_duration_seconds_bucket", **labels, le="+Inf") == 2
    assert value(samples, "tidal_in_flight", service="shop-dev", subscription="ok") == 0
    assert value(samples, "tidal_info", service="shop-dev", transport="memory", version=_v()) == 1


def _v() -> str:
    from tidal.observability._process_families import VERSION

    return VERSION


def test_counts_recorded_without_an_event_type_are_exported_with_an_empty_one() -> None:
    stats = Stats()
    stats.bump("orders", "received", 3)  # e.g. the Kafka worker before decoding
    stats.bump("orders", "received", event_type="order.v1")
    source = register(stats, Source(service="kafka-svc", transport="kafka", stats=stats))
    samples = scrape()
    unregister(source)
    common = {"service": "kafka-svc", "subscription": "orders", "outcome": "received"}
    assert value(samples, "tidal_events_total", **common, event_type="order.v1") == 1
    assert value(samples, "tidal_events_total", **common, event_type="") == 3


def test_duplicates_are_idempotency_hits() -> None:
    stats = Stats()
    stats.bump("loyalty", "duplicate", 2, event_type="order.v1")
    source = register(stats, Source(service="loyalty", transport="http", stats=stats))
    samples = scrape()
    unregister(source)
    labels = {"service": "loyalty", "subscription": "loyalty", "event_type": "order.v1"}
    assert value(samples, "tidal_idempotency_hits_total", **labels) == 2


def test_histogram_buckets_are_cumulative_with_the_documented_bounds() -> None:
    stats = Stats()
    for seconds in (0.0004, 0.003, 0.7, 100.0):
        stats.observe("s", "t", seconds)
    source = register(stats, Source(service="h", transport="http", stats=stats))
    samples = scrape()
    unregister(source)
    labels = {"service": "h", "subscription": "s", "event_type": "t"}
    bucket = "tidal_handler_duration_seconds_bucket"
    assert value(samples, bucket, **labels, le="0.001") == 1
    assert value(samples, bucket, **labels, le="0.005") == 2
    assert value(samples, bucket, **labels, le="0.5") == 2
    assert value(samples, bucket, **labels, le="1.0") == 3
    assert value(samples, bucket, **labels, le="30.0") == 3
    assert value(samples, bucket, **labels, le="+Inf") == 4
    assert value(samples, "tidal_handler_duration_seconds_sum", **labels) == pytest.approx(100.7034)


def test_kafka_consumer_lag_is_exported_per_partition() -> None:
    kafka = KafkaMetrics()
    group = kafka.subscriptions["orders"] = SubscriptionMeasures(group="tidal.shop.orders")
    group.consumed, group.invalid = 120, 2
    group.partitions[("orders", 0)] = PartitionMeasures(log_end=15_000, committed=3_000)
    group.partitions[("orders", 1)] = PartitionMeasures()  # assigned, not measured yet
    source = register(kafka, Source(service="shop", transport="kafka", consumer=kafka))
    samples = scrape()
    unregister(source)
    labels = {"service": "shop", "subscription": "orders", "group": "tidal.shop.orders"}
    partition = {**labels, "topic": "orders", "partition": "0"}
    assert value(samples, "tidal_consumer_lag", **partition) == 12_000
    assert value(samples, "tidal_consumer_log_end_offset", **partition) == 15_000
    assert value(samples, "tidal_consumer_committed_offset", **partition) == 3_000
    assert (
        "tidal_consumer_lag",
        frozenset({**labels, "topic": "orders", "partition": "1"}.items()),
    ) not in samples
    assert value(samples, "tidal_consumer_records_total", **labels) == 120
    assert value(samples, "tidal_consumer_invalid_records_total", **labels) == 2


class Owner:
    """Stands for the process object that owns a source."""


def test_a_source_exports_the_families_it_makes_itself_and_drops_empty_ones() -> None:
    """Families tidal does not define (the operator's run results) come from the source."""
    made = CounterMetricFamily("shop_audits", "Audits.", labels=["service", "auditor"])
    made.add_metric(["shop", "alice"], 3)
    empty = GaugeMetricFamily("shop_idle", "Nothing measured yet.", labels=["service"])
    owner = Owner()
    source = register(
        owner, Source(service="shop", transport="cron", families=lambda: [made, empty])
    )
    body, _ = render()
    samples = scrape()
    unregister(source)
    assert value(samples, "shop_audits_total", service="shop", auditor="alice") == 3
    assert "shop_idle" not in body.decode()
    assert value(samples, "tidal_info", service="shop", transport="cron", version=VERSION) == 1


def test_a_source_making_something_else_than_families_is_refused() -> None:
    owner = Owner()
    source = register(
        owner, Source(service="shop", transport="cron", families=lambda: ["shop_audits 3"])
    )
    try:
        with pytest.raises(TypeError, match="must be prometheus_client Metrics"):
            render()
    finally:
        unregister(source)


def test_a_drainer_exports_what_it_archived() -> None:
    """``tidal dlq drain``'s counts are the one source of ``tidal_dlq_archive_events_total``."""
    owner = Owner()
    counts = DrainCounts(events=7, objects=2, bytes=900)
    drained = Drained(namespace="shop", name="orders-dlq", counts=counts)
    drainer = register(
        owner, Source(service="tidal-dlq-drain", transport="dlq-drain", drained=drained)
    )
    counts.events += 3  # read at scrape time
    body, _ = render()
    samples = scrape()
    unregister(drainer)
    drain = {"service": "tidal-dlq-drain", "resource_namespace": "shop", "archive": "orders-dlq"}
    assert value(samples, "tidal_dlq_archive_events_total", **drain) == 10
    assert value(samples, "tidal_dlq_archive_objects_total", **drain) == 2
    assert value(samples, "tidal_dlq_archive_written_bytes_total", **drain) == 900
    archived = [k for k in samples if k[0] == "tidal_dlq_archive_events_total"]
    assert archived == [("tidal_dlq_archive_events_total", frozenset(drain.items()))]
    assert body.decode().count("# TYPE tidal_dlq_archive_events_total counter") == 1
    assert (
        value(
            samples, "tidal_info", service="tidal-dlq-drain", transport="dlq-drain", version=VERSION
        )
        == 1
    )


async def test_a_source_goes_away_with_its_owner(clock: ManualClock) -> None:
    broker = MemoryBroker(build_app(), clock=clock, service="ephemeral")
    await broker.publish(make_event("order.v1"))
    await broker.drain()
    assert any(("service", "ephemeral") in labels for _, labels in scrape())
    del broker
    gc.collect()
    assert not any(("service", "ephemeral") in labels for _, labels in scrape())


def test_cold_start_is_process_start_to_ready() -> None:
    hooks.mark_ready("cold-svc")
    samples = scrape()
    cold = value(samples, "tidal_cold_start_seconds", service="cold-svc")
    # the kernel's own count of this process' age (`ps`), independent of how tidal reads it
    age = subprocess.run(
        ["ps", "-o", "etimes=", "-p", str(os.getpid())],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert abs(cold - int(age)) <= 2.0


async def test_http_transport_serves_metrics_and_counts_statuses() -> None:
    app = build_app()
    statuses: Counter[int] = Counter()
    receiver = Receiver(
        dispatcher=Dispatcher(app, stats=Stats()),
        max_body_bytes=1 << 20,
        service="web",
        statuses=statuses,
        metrics=render,
    )
    register(
        receiver,
        Source(
            service="web", transport="http", stats=receiver.dispatcher.stats, http_statuses=statuses
        ),
    )
    transport = httpx.ASGITransport(app=create_asgi_app(receiver))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for event_type in ("order.v1", "bad.v1", "flaky.v1"):
            headers = {
                "ce-specversion": "1.0",
                "ce-id": event_type,
                "ce-source": "/t",
                "ce-type": event_type,
            }
            await client.post("/", headers=headers, content=b"{}")
        await client.post("/", content=b"not an event")
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    for status, n in (("200", 1), ("422", 1), ("503", 1), ("400", 1)):
        assert value(samples, "tidal_http_requests_total", service="web", status=status) == n


async def test_metrics_endpoint_says_so_when_metrics_are_off() -> None:
    receiver = Receiver(dispatcher=Dispatcher(build_app()), max_body_bytes=1024)
    transport = httpx.ASGITransport(app=create_asgi_app(receiver))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/metrics")
    assert response.status_code == 404
    assert response.json()["error"] == "metrics_disabled"


def test_a_kafka_worker_exports_no_operator_or_http_families(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 18 item 8: the worker's /metrics showed empty ``# TYPE`` lines for ``tidal_backup_*``
    (the operator's), ``tidal_dlq_archive_*`` (the drainers') and ``tidal_http_requests``."""
    # a registry of this worker's source alone: earlier tests' apps may still be alive
    monkeypatch.setattr(sources, "_entries", [])
    kafka = KafkaMetrics()
    group = kafka.subscriptions["orders"] = SubscriptionMeasures(group="tidal.shop.orders")
    group.partitions[("orders", 0)] = PartitionMeasures(log_end=10, committed=4)
    source = register(
        kafka, Source(service="shop", transport="kafka", stats=kafka.stats, consumer=kafka)
    )
    body = render()[0].decode()
    unregister(source)
    families = {line.split()[2] for line in body.splitlines() if line.startswith("# TYPE")}
    assert "tidal_consumer_lag" in families
    assert "tidal_events" in families or "tidal_events_total" in families
    foreign = sorted(
        f for f in families if f.startswith(("tidal_backup", "tidal_dlq", "tidal_http"))
    )
    assert foreign == []


async def test_ten_thousand_producer_chosen_types_leave_the_series_bounded(
    clock: ManualClock,
) -> None:
    """Issue 17, finding 8: ``event_type`` comes from producers; before, every new type added
    series (1,000 types handled by one of two subscriptions: 44 -> 19,044)."""
    app = App("typed")

    @app.on(prefix(type="com.untrusted."), name="everything")
    def everything(event: Event) -> None:
        return None

    @app.on(type="com.acme.order.v1", name="orders")
    def orders(event: Event) -> None:
        return None

    broker = MemoryBroker(app, clock=clock, service="typed")
    rng = random.Random(17)
    counts = []
    for batch in (200, 9_800):
        for n in range(batch):
            event_type = f"com.untrusted.{rng.getrandbits(64):x}.v1"
            await broker.publish(make_event(event_type, id=f"{batch}-{n}"))
        await broker.publish(make_event("com.acme.order.v1", id=str(batch)))
        await broker.drain()
        counts.append(_series("typed"))
    samples = scrape()
    types = {dict(labels).get("event_type") for name, labels in samples if _of(labels, "typed")}
    assert len(types - {None, ""}) == DEFAULT_TYPE_LABELS + 2  # the cap, "other", the order type
    per_type = len(OUTCOMES) + len(BUCKETS) + 3 + 1  # counters, histogram, hits
    assert counts[0] == counts[1] <= 2 * (DEFAULT_TYPE_LABELS + 2) * per_type + 10
    filtered = {"service": "typed", "subscription": "orders", "outcome": "filtered"}
    assert value(samples, "tidal_events_total", **filtered, event_type=OTHER) == 10_000
    ordered = {"service": "typed", "subscription": "orders", "event_type": "com.acme.order.v1"}
    assert value(samples, "tidal_events_total", **ordered, outcome="handled") == 2
    everything_other = {"service": "typed", "subscription": "everything", "event_type": OTHER}
    handled_other = value(samples, "tidal_events_total", **everything_other, outcome="handled")
    assert handled_other == 10_000 - DEFAULT_TYPE_LABELS


def _of(labels: frozenset[tuple[str, str]], service: str) -> bool:
    return ("service", service) in labels


def _series(service: str) -> int:
    return len([key for key in scrape() if _of(key[1], service)])
