"""The alert rules of the chart's PrometheusRule, with the thresholds of docs/observability.md.

Each rule is a comparison of a measure with a threshold, kept apart (`Alert.measure`) so the
tests can check that the measure returns data against a real Prometheus.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from monitoring import promql

WINDOW: Final = "5m"
SERVICE: Final = "namespace, service"


@dataclass(frozen=True, kw_only=True)
class Alert:
    name: str
    measure: str
    comparison: str
    duration: str
    severity: str
    summary: str
    description: str

    @property
    def expr(self) -> str:
        return f"{self.measure}\n{self.comparison}"

    def rule(self) -> dict[str, Any]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.duration,
            "labels": {"severity": self.severity},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
            },
        }


EVENTS: Final = (
    Alert(
        name="TidalHighErrorRatio",
        measure=promql.error_ratio(SERVICE, WINDOW),
        comparison="> 0.01",
        duration="5m",
        severity="critical",
        summary="More than 1 % of handler attempts fail",
        description=(
            "{{ $labels.service }} in {{ $labels.namespace }}: "
            "{{ $value | humanizePercentage }} of attempts failed or were retried over 5m."
        ),
    ),
    Alert(
        name="TidalHandlerLatencyHigh",
        measure=promql.latency_quantile(0.95, f"{SERVICE}, subscription", WINDOW),
        comparison="> 0.5",
        duration="5m",
        severity="warning",
        summary="p95 handler latency above 500 ms",
        description=(
            "{{ $labels.service }}/{{ $labels.subscription }}: p95 handler latency is "
            "{{ $value | humanizeDuration }}."
        ),
    ),
    Alert(
        name="TidalDeadLettersGrowing",
        measure=promql.dead_letters_per_minute(f"{SERVICE}, subscription", WINDOW),
        comparison="> 10",
        duration="2m",
        severity="warning",
        summary="More than 10 events per minute dead-lettered",
        description=(
            "{{ $labels.service }}/{{ $labels.subscription }} dead-letters "
            "{{ $value | humanize }} events per minute."
        ),
    ),
    Alert(
        name="TidalSyncThreadsHung",
        measure=f"max by ({SERVICE}, subscription) (tidal_sync_threads_hung)",
        comparison="> 0",
        duration="10m",
        severity="warning",
        summary="A sync handler thread hangs after its attempt timed out",
        description=(
            "{{ $labels.service }}/{{ $labels.subscription }}: {{ $value }} sync handler "
            "thread(s) still running after their timeout on one replica; at the limit of its "
            "pool /healthz fails and the pod restarts."
        ),
    ),
)

CONSUMERS: Final = (
    Alert(
        name="TidalConsumerLagHigh",
        measure=promql.subscription_lag(f"{SERVICE}, subscription, group"),
        comparison="> 10000",
        duration="5m",
        severity="warning",
        summary="Subscription more than 10,000 records behind",
        description=(
            "Subscription {{ $labels.subscription }} of {{ $labels.service }} (group "
            "{{ $labels.group }}) is {{ $value | humanize }} records behind the log end."
        ),
    ),
)

DEPENDENCIES: Final = (
    Alert(
        name="TidalDependencyDown",
        measure=f"min by ({SERVICE}, dependency) (tidal_dependency_up)",
        comparison="== 0",
        duration="2m",
        severity="critical",
        summary="A service tidal depends on is down: events wait",
        description=(
            "{{ $labels.service }} in {{ $labels.namespace }} cannot reach "
            "{{ $labels.dependency }}: its events are paused (no attempts used), /readyz fails."
        ),
    ),
)

_BACKUP_LABELS: Final = "namespace, service, resource_namespace, policy"
_ARCHIVE_LABELS: Final = "namespace, service, resource_namespace, archive"
OPERATOR: Final = (
    Alert(
        name="TidalBackupTooOld",
        measure=(
            f"max by ({_BACKUP_LABELS}) (time() - tidal_backup_last_success_timestamp_seconds)"
        ),
        comparison=f"> max by ({_BACKUP_LABELS}) (tidal_backup_max_age_seconds)",
        duration="5m",
        severity="critical",
        summary="The last successful backup is older than its schedule allows",
        description=(
            "BackupPolicy {{ $labels.resource_namespace }}/{{ $labels.policy }} last succeeded "
            "{{ $value | humanizeDuration }} ago."
        ),
    ),
    Alert(
        name="TidalDLQArchiverFailing",
        measure=(
            f"sum by ({_ARCHIVE_LABELS}) "
            f'(increase(tidal_dlq_archive_runs_total{{result="failure"}}[15m]))'
        ),
        comparison=(
            f"> 0\nunless\nsum by ({_ARCHIVE_LABELS}) "
            f'(increase(tidal_dlq_archive_runs_total{{result="success"}}[15m])) > 0'
        ),
        duration="5m",
        severity="warning",
        summary="The DLQ archiver fails and has not succeeded for 15 minutes",
        description=(
            "DLQArchive {{ $labels.resource_namespace }}/{{ $labels.archive }}: "
            "{{ $value | humanize }} failed runs in 15m and none succeeded."
        ),
    ),
)

ALERTS: Final = (*EVENTS, *CONSUMERS, *DEPENDENCIES, *OPERATOR)


def rule_groups() -> dict[str, Any]:
    """The rule file (``groups:``), as promtool and the PrometheusRule's spec read it."""
    groups = (
        ("tidal.events", EVENTS),
        ("tidal.consumers", CONSUMERS),
        ("tidal.dependencies", DEPENDENCIES),
        ("tidal.operator", OPERATOR),
    )
    return {
        "groups": [
            {"name": name, "rules": [alert.rule() for alert in alerts]} for name, alerts in groups
        ]
    }
