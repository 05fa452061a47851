"""Per-subscription counters of what happened to events; the dispatcher and transports bump them.

`tidal dev` prints them live; the metrics layer exports the same numbers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Final, Literal

Outcome = Literal[
    "received", "handled", "duplicate", "retried", "failed", "dead_lettered", "filtered"
]
OUTCOMES: Final[tuple[Outcome, ...]] = (
    "received",
    "handled",
    "duplicate",
    "retried",
    "failed",
    "dead_lettered",
    "filtered",
)


@dataclass
class Stats:
    """Counts keyed by (subscription, outcome)."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def bump(self, subscription: str, outcome: Outcome, n: int = 1) -> None:
        self.counts[(subscription, outcome)] += n

    def get(self, subscription: str, outcome: Outcome) -> int:
        return self.counts[(subscription, outcome)]

    def subscriptions(self) -> list[str]:
        return sorted({sub for sub, _ in self.counts})

    def total(self, outcome: Outcome) -> int:
        return sum(n for (_, o), n in self.counts.items() if o == outcome)
