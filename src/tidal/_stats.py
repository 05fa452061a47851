"""What happened to events, per subscription: counts, in-flight and handler latency.

The dispatcher and the transports record here on the hot path (plain counters, no locks, no
labels to resolve); `tidal dev` prints the counts live and the metrics layer exports all of it
at scrape time, so observing costs nothing between scrapes.

Event types come from producers, so they are not trusted to be few: a subscription labels at most
``max_types`` distinct types (`type_label_cap`, ``TIDAL_OBSERVABILITY__MAX_EVENT_TYPES``, set by
`tidal.observability.setup`) and counts the rest as `OTHER`, and events a subscription filtered
out (types it does not subscribe to, by and large) are all counted as `OTHER`. So the series
``/metrics`` exports, and the memory these counters hold, are bounded whatever is produced.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from typing import Final, Literal

OutcomeLabel = Literal[
    "received", "handled", "duplicate", "retried", "failed", "dead_lettered", "filtered", "paused"
]
"""A value of the ``outcome`` label (``tidal_events_total``); an attempt's result is a
`tidal._outcomes.Outcome`."""
OUTCOMES: Final[tuple[OutcomeLabel, ...]] = (
    "received",
    "handled",
    "duplicate",
    "retried",
    "failed",
    "dead_lettered",
    "filtered",
    "paused",  # an attempt a dependency outage stopped: it used up no attempt
)
OTHER: Final = "other"
DEFAULT_TYPE_LABELS: Final = 50


class _Cap:
    """Distinct event types one subscription labels; the rest count as `OTHER`."""

    types: int = DEFAULT_TYPE_LABELS


def type_label_cap(types: int) -> None:
    """Label at most ``types`` event types per subscription in `Stats` made from now on."""
    if types < 0:
        raise ValueError(f"the event-type label cap must be >= 0, not {types}")
    _Cap.types = types


# Handler latency buckets in seconds (upper bounds; +Inf is implied).
BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class Histogram:
    """Cumulative-on-export histogram: one count per bucket, plus sum and count."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations <= bound) pairs, ending with +Inf."""
        running, pairs = 0, []
        for bound, n in zip((*BUCKETS, float("inf")), self.counts, strict=True):
            running += n
            pairs.append((bound, running))
        return pairs


@dataclass
class Stats:
    """Counts by (subscription, outcome), and by (subscription, event type, outcome) when the
    recorder knows the type; in-flight attempts and handler latency by subscription and type.
    Types are folded into `OTHER` past ``max_types`` per subscription, and for ``filtered``."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    typed: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    in_flight: Counter[str] = field(default_factory=Counter)
    hung: dict[str, int] = field(default_factory=dict)  # sync threads past their timeout
    latency: dict[tuple[str, str], Histogram] = field(default_factory=dict)
    max_types: int = field(default_factory=lambda: _Cap.types)
    labelled: dict[str, set[str]] = field(default_factory=dict)

    def bump(
        self, subscription: str, outcome: OutcomeLabel, n: int = 1, *, event_type: str | None = None
    ) -> None:
        self.counts[(subscription, outcome)] += n
        if event_type is not None:
            label = OTHER if outcome == "filtered" else self.label(subscription, event_type)
            self.typed[(subscription, label, outcome)] += n

    def label(self, subscription: str, event_type: str) -> str:
        """``event_type`` while the subscription labels fewer than ``max_types`` types (or
        already labels this one), else `OTHER`."""
        types = self.labelled.get(subscription)
        if types is None:
            types = self.labelled[subscription] = set()
        if event_type in types:
            return event_type
        if len(types) >= self.max_types:
            return OTHER
        types.add(event_type)
        return event_type

    def observe(self, subscription: str, event_type: str, seconds: float) -> None:
        """Record one handler attempt's duration."""
        key = (subscription, self.label(subscription, event_type))
        histogram = self.latency.get(key)
        if histogram is None:
            histogram = self.latency[key] = Histogram()
        histogram.observe(seconds)

    def get(self, subscription: str, outcome: OutcomeLabel) -> int:
        return self.counts[(subscription, outcome)]

    def subscriptions(self) -> list[str]:
        return sorted({sub for sub, _ in self.counts})
