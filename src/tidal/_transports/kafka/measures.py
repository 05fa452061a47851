"""What the Kafka worker measures, as plain objects the metrics layer reads (no client types).

`KafkaWorker.metrics` is a `KafkaMetrics`; the worker updates it as it goes and the metrics
layer (Prometheus export, `tidal dev`) reads it or its `snapshot()`. Counts of what happened to
events come from the shared `Stats` (the dispatcher bumps handled / retried / failed, the worker
received / filtered / dead_lettered); the rest is Kafka-specific:

- ``consumed``: records fetched, retry-topic records included; ``invalid``: not CloudEvents;
- ``latency`` (in `snapshot`): the subscription's handler attempts, seconds in all and count,
  summed from the shared `Stats` histograms (per event type there);
- per partition: ``in_flight`` records, the log-end offset (the fetch high watermark), the
  ``committed`` offset and ``lag`` = log-end minus committed. With the subscription alone in
  its group on the partition that is the group's committed offset, the number KEDA's Kafka
  scaler computes from the same two offsets; where the group's subscriptions share the
  partition it is the subscription's own done position, and the group's lag (committed at
  the slowest) is the largest of theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tidal._stats import OUTCOMES, Stats


@dataclass
class PartitionMeasures:
    """One assigned partition of a subscription's consumer group."""

    in_flight: int = 0
    log_end: int | None = None
    committed: int | None = None

    @property
    def lag(self) -> int | None:
        """Records not yet committed: log-end offset minus committed offset."""
        if self.log_end is None:
            return None
        return max(0, self.log_end - (self.committed or 0))


@dataclass
class SubscriptionMeasures:
    """One subscription's consumer: counters and partitions."""

    group: str
    consumed: int = 0
    invalid: int = 0
    partitions: dict[tuple[str, int], PartitionMeasures] = field(default_factory=dict)

    @property
    def in_flight(self) -> int:
        return sum(p.in_flight for p in self.partitions.values())

    @property
    def lag(self) -> int:
        return sum(p.lag or 0 for p in self.partitions.values())


@dataclass
class KafkaMetrics:
    """Every subscription's measures plus the shared outcome counts."""

    stats: Stats = field(default_factory=Stats)
    subscriptions: dict[str, SubscriptionMeasures] = field(default_factory=dict)

    def count(self, subscription: str, outcome: str) -> int:
        """``consumed``, ``invalid`` or a `tidal._stats` outcome (``handled``, ``retried``...)."""
        if outcome in ("consumed", "invalid"):
            return int(getattr(self.subscriptions[subscription], outcome))
        return self.stats.counts[(subscription, outcome)]

    def snapshot(self) -> dict[str, Any]:
        """Everything as plain dicts and numbers, keyed by subscription."""
        return {name: self._snapshot(name, m) for name, m in self.subscriptions.items()}

    def _latency(self, name: str) -> dict[str, float]:
        """The subscription's handler attempts (every event type): seconds in all, count."""
        histograms = [h for (sub, _), h in list(self.stats.latency.items()) if sub == name]
        return {
            "sum": sum(h.total for h in histograms),
            "count": sum(h.count for h in histograms),
        }

    def _snapshot(self, name: str, m: SubscriptionMeasures) -> dict[str, Any]:
        return {
            "group": m.group,
            "consumed": m.consumed,
            "invalid": m.invalid,
            **{outcome: self.stats.get(name, outcome) for outcome in OUTCOMES},
            "latency": self._latency(name),
            "in_flight": m.in_flight,
            "lag": m.lag,
            "partitions": {
                f"{topic}/{partition}": {
                    "in_flight": p.in_flight,
                    "log_end": p.log_end,
                    "committed": p.committed,
                    "lag": p.lag,
                }
                for (topic, partition), p in sorted(m.partitions.items())
            },
        }
