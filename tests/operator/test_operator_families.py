"""The operator's families (`tidal_operator.families`): its run results exported through
`tidal.observability` as a source's own families, beside a DLQ drainer's counts."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tidal.observability import Drained, Source, register, unregister
from tidal.observability._collector import render
from tidal.observability._process_families import VERSION
from tidal_data.dlq import DrainCounts
from tidal_operator.families import RunResults, collect

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape() -> tuple[str, Samples]:
    body = render()[0].decode()
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }
    return body, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


class Operator:
    """Stands for the operator process that owns the results."""


def operator_source(*results: RunResults) -> Source:
    return Source(
        service="tidal-operator",
        transport="operator",
        families=lambda: collect("tidal-operator", results),
    )


def test_backup_and_dlq_archive_results_are_exported() -> None:
    backup = RunResults(
        kind="backup",
        name="orders-daily",
        namespace="shop",
        succeeded=4,
        failed=1,
        last_success=1_700_000_000.0,
        max_age=93_600.0,
        last_size_bytes=2048,
        stored_bytes=8192,
        events=500,
    )
    archive = RunResults(kind="dlq_archive", name="orders-dlq", namespace="shop", failed=2)
    owner = Operator()
    source = register(owner, operator_source(backup, archive))
    _, samples = scrape()
    unregister(source)
    policy = {"service": "tidal-operator", "resource_namespace": "shop", "policy": "orders-daily"}
    assert value(samples, "tidal_backup_runs_total", **policy, result="success") == 4
    assert value(samples, "tidal_backup_runs_total", **policy, result="failure") == 1
    assert value(samples, "tidal_backup_last_success_timestamp_seconds", **policy) == 1.7e9
    assert value(samples, "tidal_backup_max_age_seconds", **policy) == 93_600
    assert value(samples, "tidal_backup_last_size_bytes", **policy) == 2048
    assert value(samples, "tidal_backup_stored_bytes", **policy) == 8192
    assert value(samples, "tidal_backup_events_total", **policy) == 500
    dlq = {"service": "tidal-operator", "resource_namespace": "shop", "archive": "orders-dlq"}
    assert value(samples, "tidal_dlq_archive_runs_total", **dlq, result="failure") == 2
    assert value(samples, "tidal_dlq_archive_last_success_timestamp_seconds", **dlq) == 0
    assert not any(name.startswith("tidal_restore") for name, _ in samples)


def test_a_drainer_exports_what_it_archived_and_the_operator_no_archive_events() -> None:
    """The drainer's counts are the one source of ``tidal_dlq_archive_events_total``; the
    operator's results for the same archive (events None) add runs and times only."""
    owner = Operator()
    counts = DrainCounts(events=7, objects=2, bytes=900)
    drained = Drained(namespace="shop", name="orders-dlq", counts=counts)
    drainer = register(
        owner, Source(service="tidal-dlq-drain", transport="dlq-drain", drained=drained)
    )
    archive = RunResults(kind="dlq_archive", name="orders-dlq", namespace="shop", events=None)
    operator = register(owner, operator_source(archive))
    body, samples = scrape()
    unregister(drainer)
    unregister(operator)
    labels = {"resource_namespace": "shop", "archive": "orders-dlq"}
    drain = {"service": "tidal-dlq-drain", **labels}
    assert value(samples, "tidal_dlq_archive_events_total", **drain) == 7
    operator_labels = {"service": "tidal-operator", **labels, "result": "success"}
    assert value(samples, "tidal_dlq_archive_runs_total", **operator_labels) == 0
    archived = [k for k in samples if k[0] == "tidal_dlq_archive_events_total"]
    assert archived == [("tidal_dlq_archive_events_total", frozenset(drain.items()))]
    assert body.count("# TYPE tidal_dlq_archive_events_total counter") == 1
    info = {"service": "tidal-operator", "transport": "operator", "version": VERSION}
    assert value(samples, "tidal_info", **info) == 1
