"""A process exporting what the incident load cannot produce in seconds: a Kafka consumer
15,000 records behind (real `KafkaMetrics`, enough for the lag alert; a real worker's lag is
scraped in `test_kafka_worker_scrape`), a Redis it cannot reach (`tidal._health.Dependency`),
a stale backup and a failing DLQ archiver (`tidal_operator.families.RunResults`, as the operator
fills them), and what that archiver's drainer stored (`Drained`, as ``tidal dlq drain`` counts
it; a real drainer is scraped in `tests/archive/test_dlq_metrics`). It uses
`tidal.observability.setup` with the standalone listener, as ``tidal run --transport kafka``
and the operator do.

Run: ``TIDAL_OBSERVABILITY__METRICS_PORT=N python -m tests.observability.apps.exporter``.
"""

from __future__ import annotations

import signal
import threading
import time

from tidal import Settings
from tidal import _health as health
from tidal._transports.kafka.measures import KafkaMetrics, PartitionMeasures, SubscriptionMeasures
from tidal.observability import Drained, Source, register, setup
from tidal_data.dlq import DrainCounts
from tidal_operator.families import RunResults, collect

DAY = 86_400.0


class Worker:
    """Owns the measures, like `KafkaWorker` and the operator do."""

    def __init__(self) -> None:
        self.kafka = KafkaMetrics()
        self.group = SubscriptionMeasures(group="tidal.obs-ledger.ledger")
        self.kafka.subscriptions["ledger"] = self.group
        self.partition = PartitionMeasures(log_end=25_000, committed=10_000)
        self.group.partitions[("orders", 0)] = self.partition
        now = time.time()
        self.backup = RunResults(
            kind="backup",
            name="orders-daily",
            namespace="shop",
            succeeded=3,
            last_success=now - 2 * DAY,
            max_age=DAY + 2 * 3600,
            last_size_bytes=4096,
            stored_bytes=3 * 4096,
            events=900,
        )
        self.archive = RunResults(
            kind="dlq_archive", name="orders-dlq", namespace="shop", stored_bytes=1024, events=None
        )
        self.drained = DrainCounts()
        self.redis = health.dependency("redis")  # down for good: the dependency alert fires
        self.redis.down("idempotency store unavailable: Connection refused")

    def tick(self) -> None:
        self.group.consumed += 10
        self.group.invalid += 1
        self.partition.log_end = (self.partition.log_end or 0) + 10
        self.backup.succeeded += 1
        self.archive.failed += 1
        self.drained.events += 5
        self.drained.objects += 1
        self.drained.bytes += 2048
        self.kafka.stats.bump("ledger", "received", 10, event_type="ledger.v1")


def main() -> None:
    settings = Settings()
    setup(settings, service="obs-exporter", metrics_listener=True).ready()
    worker = Worker()
    register(
        worker,
        Source(
            service="obs-ledger", transport="kafka", stats=worker.kafka.stats, consumer=worker.kafka
        ),
    )
    runs = (worker.backup, worker.archive)
    operator = Source(
        service="tidal-operator",
        transport="operator",
        families=lambda: collect("tidal-operator", runs),
    )
    register(worker, operator)
    drained = Drained(namespace="shop", name="orders-dlq", counts=worker.drained)
    register(worker, Source(service="tidal-dlq-drain", transport="dlq-drain", drained=drained))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.25):
        worker.tick()


if __name__ == "__main__":
    main()
