"""The Grafana dashboards, built with grafana-foundation-sdk: pipeline overview, per service,
operator (backups and DLQ archives). `monitoring.__main__` writes them into the chart.

Every query goes to the ``datasource`` variable (the kube-prometheus-stack Grafana provisions a
Prometheus data source) and filters with regex matchers on the dashboard's variables, so
"All" is simply ``.*``.
"""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries

from monitoring import promql
from monitoring.objects import object_storage
from monitoring.panels import (
    RATE,
    SERVICES,
    Query,
    _base,
    _query_variable,
    latency_quantiles,
    stat,
    timeseries,
    with_sections,
)
from monitoring.sagas import order_saga


def pipeline() -> Dashboard:
    """Every service at once: rate, errors, latency quantiles, dead letters, lag, replicas."""
    dash = _base(
        "tidal / Pipeline overview",
        "tidal-pipeline",
        "Events through every tidal service: rate, errors, latency, dead letters, lag.",
    ).with_variable(_query_variable("service", "Service", "label_values(tidal_info, service)"))
    return with_sections(
        dash,
        ("Now", _overview_stats()),
        ("Events", _overview_series()),
        ("Object storage", object_storage()),
        ("Transactional outbox", _outbox_series()),
        ("Order saga", order_saga()),
    )


def _outbox_series() -> list[Timeseries]:
    """`tidal outbox relay`: rows relayed per table, and how long the oldest one waited."""
    return [
        timeseries(
            "Outbox rows relayed/s",
            "ops",
            Query(
                f"sum by (service, table) (rate(tidal_outbox_relayed_events_total{{{SERVICES}}}"
                f"[{RATE}]))",
                "{{service}} {{table}}",
            ),
            description="Rows produced, acknowledged by the broker and deleted from the outbox.",
        ),
        timeseries(
            "Outbox lag",
            "s",
            Query(
                f"max by (service, table) (tidal_outbox_lag_seconds{{{SERVICES}}})",
                "{{service}} {{table}}",
            ),
            description="Age of the oldest row waiting at the relay's last poll; 0 when none.",
        ),
    ]


def _overview_stats() -> list[Stat]:
    return [
        stat(
            "Handled events/s",
            "ops",
            Query(promql.outcome_rate(promql.SUCCEEDED, "", RATE, SERVICES), "handled"),
        ),
        stat(
            "Error ratio",
            "percentunit",
            Query(promql.error_ratio("", RATE, SERVICES), "errors"),
            red=0.01,
            description="Failed or retried attempts over all attempts; alert above 1 %.",
        ),
        stat(
            "p95 handler latency",
            "s",
            Query(promql.latency_quantile(0.95, "", RATE, SERVICES), "p95"),
            red=0.5,
        ),
        stat(
            "Dead letters/min",
            "short",
            Query(promql.dead_letters_per_minute("", RATE, SERVICES), "dead letters"),
            red=10,
        ),
        stat(
            "Consumer lag",
            "short",
            Query(promql.consumer_lag("", SERVICES), "lag"),
            red=10_000,
        ),
        stat("Replicas", "short", Query(promql.replicas("", SERVICES), "replicas")),
    ]


def _overview_series() -> list[Timeseries]:
    by = "namespace, service"
    return [
        timeseries(
            "Events/s by outcome",
            "ops",
            Query(promql.events_rate(f"{by}, outcome", RATE, SERVICES), "{{service}} {{outcome}}"),
        ),
        timeseries(
            "Error ratio",
            "percentunit",
            Query(promql.error_ratio(by, RATE, SERVICES), "{{service}}"),
        ),
        timeseries(
            "Handler latency",
            "s",
            *latency_quantiles(by, SERVICES, "{{service}}"),
        ),
        timeseries(
            "Dead letters/min",
            "short",
            Query(promql.dead_letters_per_minute(by, RATE, SERVICES), "{{service}}"),
        ),
        timeseries(
            "Consumer lag",
            "short",
            Query(promql.consumer_lag(f"{by}, group", SERVICES), "{{service}} {{group}}"),
        ),
        timeseries(
            "Replicas",
            "short",
            Query(promql.replicas(by, SERVICES), "{{service}}"),
            description="Running processes (pods) per service; zero when scaled to zero.",
        ),
    ]


# -- per service ---------------------------------------------------------------------------

ONE: Final = 'service=~"$service", subscription=~"$subscription"'


def service() -> Dashboard:
    """One service by subscription and event type, its HTTP answers, partitions and pods."""
    dash = (
        _base(
            "tidal / Service",
            "tidal-service",
            "One tidal service: subscriptions, event types, latency, retries, lag, processes.",
        )
        .with_variable(
            _query_variable("service", "Service", "label_values(tidal_info, service)", multi=False)
        )
        .with_variable(
            _query_variable(
                "subscription",
                "Subscription",
                'label_values(tidal_events_total{service=~"$service"}, subscription)',
            )
        )
    )
    return with_sections(
        dash, ("Events", _service_events()), ("Transport and process", _service_runtime())
    )


def _service_events() -> list[Timeseries]:
    by = "subscription"
    return [
        timeseries(
            "Events/s by subscription and outcome",
            "ops",
            Query(promql.events_rate(f"{by}, outcome", RATE, ONE), "{{subscription}} {{outcome}}"),
        ),
        timeseries(
            "Received events/s by event type",
            "ops",
            Query(promql.outcome_rate("received", "event_type", RATE, ONE), "{{event_type}}"),
        ),
        timeseries(
            "Handler latency by subscription",
            "s",
            *latency_quantiles(by, ONE, "{{subscription}}"),
        ),
        timeseries(
            "Error ratio by subscription",
            "percentunit",
            Query(promql.error_ratio(by, RATE, ONE), "{{subscription}}"),
        ),
        timeseries(
            "Retries, failures, dead letters and pauses/s",
            "ops",
            Query(
                promql.outcome_rate(
                    "retried|failed|dead_lettered|paused", f"{by}, outcome", RATE, ONE
                ),
                "{{subscription}} {{outcome}}",
            ),
            description="paused: an attempt a dependency outage stopped; it used no attempt up.",
        ),
        timeseries(
            "Idempotency hits/s (duplicates)",
            "ops",
            Query(
                f"sum by ({by}) (rate(tidal_idempotency_hits_total{{{ONE}}}[{RATE}]))",
                "{{subscription}}",
            ),
        ),
        timeseries(
            "In flight",
            "short",
            Query(f"sum by ({by}) (tidal_in_flight{{{ONE}}})", "{{subscription}}"),
        ),
    ]


def _service_runtime() -> list[Timeseries]:
    pods = 'max by (namespace, instance) (tidal_info{service=~"$service"})'
    return [
        timeseries(
            "HTTP answers/s by status",
            "reqps",
            Query(
                f"sum by (status) (rate(tidal_http_requests_total{{{SERVICES}}}[{RATE}]))",
                "{{status}}",
            ),
        ),
        timeseries(
            "Consumer lag by partition",
            "short",
            Query(
                f"max by (group, topic, partition) (tidal_consumer_lag{{{ONE}}})",
                "{{topic}}/{{partition}} ({{group}})",
            ),
        ),
        timeseries(
            "Consumed records/s",
            "ops",
            Query(
                f"sum by (subscription) (rate(tidal_consumer_records_total{{{ONE}}}[{RATE}]))",
                "{{subscription}}",
            ),
            Query(
                "sum by (subscription) "
                f"(rate(tidal_consumer_invalid_records_total{{{ONE}}}[{RATE}]))",
                "{{subscription}} not CloudEvents",
            ),
        ),
        timeseries(
            "Dependencies up",
            "short",
            Query(
                f"min by (dependency) (tidal_dependency_up{{{SERVICES}}})",
                "{{dependency}}",
            ),
            description="1 while Redis, the broker, a sink answer; 0 while events wait for it.",
        ),
        timeseries(
            "Cold start",
            "s",
            Query(f"max by (instance) (tidal_cold_start_seconds{{{SERVICES}}})", "{{instance}}"),
            description="Seconds from process start to ready, per process.",
        ),
        timeseries(
            "CPU per process",
            "percentunit",
            Query(
                f"sum by (instance) (rate(process_cpu_seconds_total[{RATE}])"
                f" * on (namespace, instance) group_left () {pods})",
                "{{instance}}",
            ),
        ),
        timeseries(
            "Memory per process",
            "bytes",
            Query(
                "sum by (instance) (process_resident_memory_bytes"
                f" * on (namespace, instance) group_left () {pods})",
                "{{instance}}",
            ),
        ),
    ]


# -- operator ------------------------------------------------------------------------------

BACKUPS: Final = 'resource_namespace=~"$resource_namespace"'


def operator() -> Dashboard:
    """BackupPolicies (last success and age, bytes, runs) and DLQArchives (archived events)."""
    dash = _base(
        "tidal / Operator",
        "tidal-operator",
        "Backups and dead-letter archives managed by the tidal operator.",
    ).with_variable(
        _query_variable(
            "resource_namespace",
            "Namespace",
            "label_values(tidal_backup_runs_total, resource_namespace)",
        )
    )
    return with_sections(dash, ("Backups", _backups()), ("DLQ archives", _archives()))


def _backups() -> list[Timeseries]:
    by = "resource_namespace, policy"
    legend = "{{resource_namespace}}/{{policy}}"
    return [
        timeseries(
            "Age of the last successful backup",
            "s",
            Query(promql.age("backup", by, BACKUPS), legend),
            Query(
                f"max by ({by}) (tidal_backup_max_age_seconds{{{BACKUPS}}})", f"{legend} allowed"
            ),
            description="Alert TidalBackupTooOld fires when the age passes what is allowed.",
        ),
        timeseries(
            "Last successful backup",
            "dateTimeAsIso",
            Query(
                f"max by ({by}) (tidal_backup_last_success_timestamp_seconds{{{BACKUPS}}}) * 1000",
                legend,
            ),
        ),
        timeseries(
            "Backup bytes",
            "bytes",
            Query(f"max by ({by}) (tidal_backup_last_size_bytes{{{BACKUPS}}})", f"{legend} last"),
            Query(f"max by ({by}) (tidal_backup_stored_bytes{{{BACKUPS}}})", f"{legend} stored"),
        ),
        timeseries(
            "Backup runs by result (1h)",
            "short",
            Query(
                f"sum by ({by}, result) (increase(tidal_backup_runs_total{{{BACKUPS}}}[1h]))",
                f"{legend} {{{{result}}}}",
            ),
        ),
    ]


def _archives() -> list[Timeseries]:
    by = "resource_namespace, archive"
    legend = "{{resource_namespace}}/{{archive}}"
    return [
        timeseries(
            "Archived dead letters/s",
            "ops",
            Query(
                f"sum by ({by}) (rate(tidal_dlq_archive_events_total{{{BACKUPS}}}[{RATE}]))",
                legend,
            ),
        ),
        timeseries(
            "Archive runs by result (1h)",
            "short",
            Query(
                f"sum by ({by}, result) (increase(tidal_dlq_archive_runs_total{{{BACKUPS}}}[1h]))",
                f"{legend} {{{{result}}}}",
            ),
        ),
        timeseries(
            "Since the last successful archive run",
            "s",
            Query(promql.age("dlq_archive", by, BACKUPS), legend),
        ),
        timeseries(
            "Archive bytes stored",
            "bytes",
            Query(f"max by ({by}) (tidal_dlq_archive_stored_bytes{{{BACKUPS}}})", legend),
        ),
    ]


DASHBOARDS: Final = {
    "tidal-pipeline": pipeline,
    "tidal-service": service,
    "tidal-operator": operator,
}
