"""The operator's exported results, pure: cron schedules -> max age, statuses -> `RunResults`."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any

import pytest

from tidal_operator import metrics
from tidal_operator.checks import MACROS
from tidal_operator.config import OperatorConfig
from tidal_operator.metrics import (
    CONTINUOUS_GRACE,
    MACRO_CRON,
    SCHEDULED_GRACE,
    Results,
    Tracked,
    cron_interval,
    max_age,
    serve,
    track,
)
from tidal_operator.reconciling import BACKUP_POLICY, DLQ_ARCHIVE, Kind, Plan, plan

HOUR, DAY = 3600, 86_400
NOW = datetime(2025, 1, 3, 12, 0, tzinfo=UTC)
CREATED = "2025-01-01T00:00:00Z"
BACKUP_SPEC: dict[str, Any] = {
    "sources": {"kafka": {"bootstrapServers": "kafka:9092"}, "topics": ["orders"]},
    "destination": {"bucket": "dr-backups", "credentials": {"secretName": "s3"}},
}
ARCHIVE_SPEC: dict[str, Any] = {
    "source": {"kafka": {"bootstrapServers": "kafka:9092"}, "topics": ["orders.dlq"]},
    "destination": {"bucket": "dead-letters", "credentials": {"secretName": "s3"}},
}


def body(spec: dict[str, Any], name: str = "orders") -> dict[str, Any]:
    meta = {
        "name": name,
        "namespace": "shop",
        "uid": "u-1",
        "generation": 1,
        "creationTimestamp": CREATED,
    }
    return {"metadata": meta, "spec": spec}


def planned(kind: Kind[Any], spec: dict[str, Any]) -> Plan[Any]:
    return plan(kind, body(spec), OperatorConfig())


def stamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize(
    ("schedule", "seconds"),
    [
        ("0 2 * * *", DAY),
        ("@daily", DAY),
        ("@hourly", HOUR),
        ("*/15 * * * *", 15 * 60),
        ("0 */6 * * *", 6 * HOUR),
        ("0 1,23 * * *", 22 * HOUR),  # the longest gap, not the shortest
        ("30 3 * * 1-5", 3 * DAY),  # Friday to Monday
        ("0 0 * * SUN", 7 * DAY),
        ("0 0 * * sun", 7 * DAY),  # names in any case
        ("0 0 */2 * 1", 2 * DAY),  # */2 is no star: either day field matches
        ("@weekly", 7 * DAY),
        ("0 0 1 * *", 31 * DAY),
        ("0 0 1 1 *", 366 * DAY),  # across a leap year
        ("0 0 1,15 * 1", 7 * DAY),  # both day fields restricted: either matches
        ("0 0 29 2 *", 1461 * DAY),  # leap days only
    ],
)
def test_the_interval_of_a_schedule_is_its_longest_gap(schedule: str, seconds: int) -> None:
    assert cron_interval(schedule) == seconds


def test_a_schedule_that_never_fires_has_no_interval() -> None:
    assert cron_interval("0 0 31 2 *") is None


def test_every_macro_the_checks_accept_has_an_expansion() -> None:
    assert set(MACRO_CRON) == MACROS


def test_max_age_is_the_schedule_plus_grace_or_the_flush_interval_plus_grace() -> None:
    assert max_age(planned(BACKUP_POLICY, BACKUP_SPEC).spec) == DAY + SCHEDULED_GRACE
    hourly = planned(BACKUP_POLICY, BACKUP_SPEC | {"schedule": "0 * * * *"})
    assert max_age(hourly.spec) == HOUR + SCHEDULED_GRACE
    continuous = BACKUP_SPEC | {"mode": "Continuous", "continuous": {"flushInterval": "5m"}}
    assert max_age(planned(BACKUP_POLICY, continuous).spec) == 5 * 60 + CONTINUOUS_GRACE
    archive = planned(DLQ_ARCHIVE, ARCHIVE_SPEC)  # retention runs daily by default
    assert max_age(archive.spec) == DAY + SCHEDULED_GRACE


def test_nothing_is_due_for_a_suspended_or_invalid_resource() -> None:
    assert max_age(planned(BACKUP_POLICY, BACKUP_SPEC | {"suspend": True}).spec) is None
    invalid = planned(BACKUP_POLICY, BACKUP_SPEC | {"schedule": "0 99 * * *"})
    assert not invalid.valid
    assert max_age(invalid.spec) is None


SUCCEEDED = {
    "succeededRuns": 3,
    "failedRuns": 1,
    "lastSuccessTime": "2025-01-03T02:20:00Z",
    "lastFailureTime": "2025-01-02T02:20:00Z",
    "lastRun": {
        "job": "orders-backup-3",
        "outcome": "Succeeded",
        "completionTime": "2025-01-03T02:20:00Z",
        "events": 1200,
        "bytes": 52_000,
    },
    "storedBytes": 3_100_000,
}


def test_a_backup_status_becomes_its_run_results() -> None:
    desired = planned(BACKUP_POLICY, BACKUP_SPEC)
    results = track(desired, body(BACKUP_SPEC), SUCCEEDED, None, now=NOW).results
    assert (results.kind, results.namespace, results.name) == ("backup", "shop", "orders")
    assert (results.succeeded, results.failed) == (3, 1)
    assert results.last_success == stamp("2025-01-03T02:20:00+00:00")
    assert results.max_age == DAY + SCHEDULED_GRACE
    assert (results.last_size_bytes, results.stored_bytes) == (52_000, 3_100_000)
    assert results.events == 0, "a run already finished at first sight is not counted again"


def test_events_count_each_newly_seen_successful_run_once() -> None:
    desired = planned(BACKUP_POLICY, BACKUP_SPEC)
    first = track(desired, body(BACKUP_SPEC), {}, None, now=NOW)
    seen = track(desired, body(BACKUP_SPEC), SUCCEEDED, first, now=NOW)
    assert seen.results.events == 1200
    again = track(desired, body(BACKUP_SPEC), SUCCEEDED, seen, now=NOW)
    assert again.results.events == 1200, "the same lastRun is not counted twice"
    failed_run = {"job": "orders-backup-4", "outcome": "Failed", "completionTime": "x"}
    failed = track(desired, body(BACKUP_SPEC), SUCCEEDED | {"lastRun": failed_run}, again, now=NOW)
    assert failed.results.events == 1200
    assert failed.results.last_size_bytes == 52_000, "the last successful run's size stays"


def test_a_policy_that_never_succeeded_exports_its_creation_time() -> None:
    desired = planned(BACKUP_POLICY, BACKUP_SPEC)
    results = track(desired, body(BACKUP_SPEC), {"failedRuns": 2}, None, now=NOW).results
    assert results.last_success == stamp("2025-01-01T00:00:00+00:00")
    assert (results.succeeded, results.failed) == (0, 2)


def test_a_healthy_continuous_archiver_succeeds_when_seen() -> None:
    spec = BACKUP_SPEC | {"mode": "Continuous"}
    desired = planned(BACKUP_POLICY, spec)
    archiving = {"conditions": [{"type": "Archiving", "status": "True"}]}
    seen = track(desired, body(spec), archiving, None, now=NOW)
    assert seen.results.last_success == NOW.timestamp()
    later = datetime(2025, 1, 4, tzinfo=UTC)
    down = {"conditions": [{"type": "Archiving", "status": "False"}]}
    assert track(desired, body(spec), down, seen, now=later).results.last_success == (
        NOW.timestamp()
    ), "an unavailable archiver keeps the last time it was seen healthy"


def test_an_invalid_spec_keeps_the_last_max_age() -> None:
    valid = track(planned(BACKUP_POLICY, BACKUP_SPEC), body(BACKUP_SPEC), {}, None, now=NOW)
    broken = BACKUP_SPEC | {"schedule": "0 99 * * *"}
    after = track(planned(BACKUP_POLICY, broken), body(broken), {}, valid, now=NOW)
    assert after.results.max_age == DAY + SCHEDULED_GRACE


def test_archive_runs_are_counted_when_their_times_move() -> None:
    desired = planned(DLQ_ARCHIVE, ARCHIVE_SPEC)
    status: dict[str, Any] = {"lastFailureTime": "2025-01-01T03:30:00Z", "storedBytes": 1024}
    first = track(desired, body(ARCHIVE_SPEC), status, None, now=NOW)
    results = first.results
    assert (results.kind, results.succeeded, results.failed) == ("dlq_archive", 0, 0)
    assert results.stored_bytes == 1024
    assert results.last_success == stamp("2025-01-01T00:00:00+00:00")  # never: created
    assert results.max_age == DAY + SCHEDULED_GRACE
    status["lastFailureTime"] = "2025-01-02T03:30:00Z"
    failed = track(desired, body(ARCHIVE_SPEC), status, first, now=NOW)
    assert (failed.results.succeeded, failed.results.failed) == (0, 1)
    status["lastSuccessTime"] = "2025-01-03T03:30:00Z"
    ok = track(desired, body(ARCHIVE_SPEC), status, failed, now=NOW)
    assert (ok.results.succeeded, ok.results.failed) == (1, 1)
    assert ok.results.last_success == stamp("2025-01-03T03:30:00+00:00")
    same = track(desired, body(ARCHIVE_SPEC), status, ok, now=NOW)
    assert (same.results.succeeded, same.results.failed) == (1, 1)


def test_archives_export_no_events_the_drainers_count_them() -> None:
    """tidal_dlq_archive_events_total comes from the drainer pods only: the operator's results
    for an archive carry none (a constant 0 beside the drainers' counts would disagree)."""
    from prometheus_client.parser import text_string_to_metric_families

    from tidal.observability import register, unregister
    from tidal.observability._collector import render

    desired = planned(DLQ_ARCHIVE, ARCHIVE_SPEC)
    status = {"lastSuccessTime": "2025-01-03T03:30:00Z", "archivedEvents": 230}
    first = track(desired, body(ARCHIVE_SPEC), status, None, now=NOW)
    assert first.results.events is None
    later = track(desired, body(ARCHIVE_SPEC), status | {"archivedEvents": 260}, first, now=NOW)
    assert later.results.events is None
    results = Results()
    results.update(desired, body(ARCHIVE_SPEC), status, NOW)
    register(results, results.source)  # as the kopf startup handler does
    exposition, _ = render()
    unregister(results.source)
    names = {
        sample.name
        for family in text_string_to_metric_families(exposition.decode())
        for sample in family.samples
        if sample.labels.get("service") == "tidal-operator"
    }
    assert "tidal_dlq_archive_runs_total" in names
    assert "tidal_dlq_archive_last_success_timestamp_seconds" in names
    assert "tidal_dlq_archive_events_total" not in names


def test_results_keep_one_entry_per_resource_in_the_source_and_forget_it() -> None:
    results = Results()
    assert (results.source.service, results.source.transport) == ("tidal-operator", "operator")
    desired = planned(BACKUP_POLICY, BACKUP_SPEC)
    results.update(desired, body(BACKUP_SPEC), SUCCEEDED, NOW)
    results.update(desired, body(BACKUP_SPEC), SUCCEEDED, NOW)
    assert list(results.runs) == [("backup", "shop", "orders")]
    assert results.runs["backup", "shop", "orders"].succeeded == 3
    assert results.source.families == results.families
    assert next(f.name for f in results.families() if f.samples) == "tidal_backup_runs"
    results.forget(desired)
    assert results.runs == {}
    assert isinstance(track(desired, body(BACKUP_SPEC), {}, None, now=NOW), Tracked)


def test_serving_is_off_at_port_zero_and_survives_a_taken_port(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # test_operator_layers runs import-linter, whose dictConfig disables existing loggers
    monkeypatch.setattr(metrics.log, "disabled", False)
    assert serve(0) is None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert serve(taken.getsockname()[1], host="127.0.0.1") is None
    assert "no /metrics: cannot listen" in caplog.text


def test_partially_failed_runs_are_exported_apart() -> None:
    desired = planned(BACKUP_POLICY, BACKUP_SPEC)
    status = SUCCEEDED | {"partiallyFailedRuns": 2}
    results = track(desired, body(BACKUP_SPEC), status, None, now=NOW).results
    assert (results.succeeded, results.failed, results.partially_failed) == (3, 1, 2)


def test_a_restore_test_success_is_exported() -> None:
    desired = planned(BACKUP_POLICY, BACKUP_SPEC)
    tested = {"outcome": "Succeeded", "completionTime": "2025-01-04T04:10:00Z"}
    results = track(desired, body(BACKUP_SPEC), SUCCEEDED | {"lastRestoreTest": tested}, None,
                    now=NOW).results  # fmt: skip
    assert results.restore_test_last_success == stamp("2025-01-04T04:10:00+00:00")
    failed = {"outcome": "Failed", "completionTime": "2025-01-05T04:10:00Z"}
    after = track(desired, body(BACKUP_SPEC), SUCCEEDED | {"lastRestoreTest": failed}, None,
                  now=NOW).results  # fmt: skip
    assert after.restore_test_last_success is None
