"""PromQL shared by the dashboards and the alert rules, over the metrics of
`tidal.observability._collector` (its families).

``selector`` is a label matcher list without braces (``service=~"$service"``, or empty);
``by`` a comma-separated label list; ``window`` a range (``5m``, ``$__rate_interval``).
"""

from __future__ import annotations

from typing import Final

SUCCEEDED: Final = "handled|duplicate"
ERRORED: Final = "retried|failed|dead_lettered"  # one outcome per attempt
ATTEMPTED: Final = f"{SUCCEEDED}|{ERRORED}"


def matchers(*parts: str) -> str:
    """``{a, b}`` from the non-empty parts (or nothing at all)."""
    kept = [p for p in parts if p]
    return "{" + ", ".join(kept) + "}" if kept else ""


def aggregate(op: str, by: str) -> str:
    """``sum by (a, b)``, or plain ``sum`` when ``by`` is empty."""
    return f"{op} by ({by})" if by else op


def events_rate(by: str, window: str, *selector: str) -> str:
    """Events per second by ``by``."""
    return f"{aggregate('sum', by)} (rate(tidal_events_total{matchers(*selector)}[{window}]))"


def outcome_rate(outcome: str, by: str, window: str, selector: str = "") -> str:
    """Events per second whose outcome matches the regex ``outcome``."""
    return events_rate(by, window, selector, f'outcome=~"{outcome}"')


def error_ratio(by: str, window: str, selector: str = "") -> str:
    """Failed or retried attempts over all attempts (Lambda's Errors / Invocations)."""
    errors = outcome_rate(ERRORED, by, window, selector)
    attempts = outcome_rate(ATTEMPTED, by, window, selector)
    return f"{errors}\n/\n{attempts}"


def dead_letters_per_minute(by: str, window: str, selector: str = "") -> str:
    return f"{outcome_rate('dead_lettered', by, window, selector)} * 60"


def latency_quantile(q: float, by: str, window: str, selector: str = "") -> str:
    """The ``q`` quantile of handler attempt durations in seconds."""
    buckets = f"tidal_handler_duration_seconds_bucket{matchers(selector)}"
    grouping = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({grouping}) (rate({buckets}[{window}])))"


def consumer_lag(by: str, selector: str = "") -> str:
    """Records a consumer group has not committed, by ``by`` (which may name ``group`` and not
    ``subscription``): each subscription of a group reports its own lag on a partition and the
    group commits at the slowest, so a partition's lag is the largest of its subscriptions'
    (what KEDA's Kafka scaler computes for the group), then summed."""
    per_partition = "namespace, service, group, topic, partition"
    lag = f"max by ({per_partition}) (tidal_consumer_lag{matchers(selector)})"
    return f"{aggregate('sum', by)} ({lag})"


def subscription_lag(by: str, selector: str = "") -> str:
    """Records each subscription has not finished, by ``by`` (which names ``subscription``)."""
    return f"{aggregate('sum', by)} (tidal_consumer_lag{matchers(selector)})"


def replicas(by: str, selector: str = "") -> str:
    """Running tidal processes (each exports one ``tidal_info`` series per service)."""
    return f"{aggregate('count', by)} (tidal_info{matchers(selector)})"


def age(kind: str, by: str, selector: str = "") -> str:
    """Seconds since a backup policy / DLQ archive last succeeded."""
    since = f"time() - tidal_{kind}_last_success_timestamp_seconds{matchers(selector)}"
    return f"{aggregate('max', by)} ({since})"
