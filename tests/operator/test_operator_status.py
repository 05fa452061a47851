"""Status from child results: termination messages, Job conditions, counters, conditions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tidal_operator import backup_status, dlq_status, dlqs
from tidal_operator.checks import SpecError
from tidal_operator.conditions import Condition, merged
from tidal_operator.results import SCHEMA, parse_report, run_of, runs
from tidal_operator.specs import Owner, backup_policy, dlq_archive
from tidal_operator.summarizing import Observed, crash, deployment_state, rfc3339

OWNER = Owner(kind="BackupPolicy", name="orders", namespace="shop", uid="u", generation=4)
ARCHIVE_OWNER = Owner(kind="DLQArchive", name="dlq", namespace="shop", uid="v", generation=2)
POLICY = backup_policy(
    {"name": "orders"},
    {
        "sources": {"kafka": {"bootstrapServers": "k:9092"}, "topics": ["orders"]},
        "destination": {"bucket": "dr-backups", "credentials": {"secretName": "s3"}},
    },
)
ARCHIVE_SPEC: dict[str, Any] = {
    "source": {"kafka": {"bootstrapServers": "k:9092"}, "topics": ["orders.dlq"]},
    "destination": {"bucket": "dead-letters", "credentials": {"secretName": "s3"}},
}
ARCHIVE = dlq_archive({"name": "dlq", "namespace": "shop"}, ARCHIVE_SPEC)


def report(outcome: str = "succeeded", **fields: Any) -> str:
    return json.dumps({"schema": SCHEMA, "command": "backup run", "outcome": outcome, **fields})


def job(
    name: str,
    phase: str,
    *,
    at: str = "2025-01-01T02:10:00Z",
    labels: dict[str, str] | None = None,
    reason: str = "BackoffLimitExceeded",
) -> dict[str, Any]:
    status: dict[str, Any] = {"startTime": "2025-01-01T02:00:00Z"}
    if phase == "Succeeded":
        status |= {"completionTime": at, "conditions": [{"type": "Complete", "status": "True"}]}
    elif phase == "Failed":
        failed = {"type": "Failed", "status": "True", "reason": reason, "lastTransitionTime": at}
        status |= {"conditions": [failed]}
    else:
        status |= {"active": 1}
    return {"metadata": {"name": name, "labels": labels or {}}, "status": status}


def pod(
    job_name: str, message: str | None, *, exit_code: int = 0, component: str = "backup"
) -> dict[str, Any]:
    terminated = {"exitCode": exit_code, "finishedAt": "2025-01-01T02:09:00Z"}
    if message is not None:
        terminated["message"] = message
    return {
        "metadata": {
            "name": f"{job_name}-abcde",
            "labels": {
                "batch.kubernetes.io/job-name": job_name,
                "app.kubernetes.io/component": component,
            },
        },
        "status": {"containerStatuses": [{"name": "tidal", "state": {"terminated": terminated}}]},
    }


def conditions(found: list[Condition]) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in found}


def test_a_report_is_read_from_its_json_contract() -> None:
    parsed = parse_report(
        report(
            counts={"events": 10, "bytes": 2048, "flag": True},
            backup={"id": "b-1", "verified": True},
            stored={"backups": 3, "bytes": 9000},
            finishedAt="2025-01-01T02:09:00Z",
        )
    )
    assert parsed is not None
    assert parsed.succeeded
    assert parsed.verified
    assert dict(parsed.counts) == {"events": 10, "bytes": 2048}, "non-integers are ignored"
    assert (parsed.backup_id, dict(parsed.stored)) == ("b-1", {"backups": 3, "bytes": 9000})


@pytest.mark.parametrize(
    "text",
    [None, "", "Traceback (most recent call last): ...", "[1, 2]", '{"outcome": "succeeded"}'],
)
def test_anything_else_in_a_termination_message_is_not_a_report(text: str | None) -> None:
    assert parse_report(text) is None


def test_a_failure_report_keeps_its_reason_and_a_bounded_message() -> None:
    parsed = parse_report(
        report("failed", error={"reason": "ChecksumMismatch", "message": "x" * 5000})
    )
    assert parsed is not None
    assert (parsed.succeeded, parsed.reason, len(parsed.message or "")) == (
        False,
        "ChecksumMismatch",
        1024,
    )


def test_a_failed_job_without_a_report_uses_the_jobs_reason_and_the_log_tail() -> None:
    found = run_of(job("j", "Failed"), [pod("j", "panic: connection refused", exit_code=1)])
    assert (found.phase, found.reason, found.message) == (
        "Failed",
        "BackoffLimitExceeded",
        "panic: connection refused",
    )


def test_a_complete_job_whose_report_says_failed_counts_as_failed() -> None:
    found = run_of(
        job("j", "Succeeded"), [pod("j", report("failed", error={"reason": "NotVerified"}))]
    )
    assert (found.phase, found.reason) == ("Failed", "NotVerified")


def test_pods_are_matched_to_their_job_by_label_or_owner_reference() -> None:
    owned = pod("other", report(counts={"events": 7}))
    owned["metadata"]["labels"] = {}
    owned["metadata"]["ownerReferences"] = [{"kind": "Job", "name": "j"}]
    found = run_of(job("j", "Succeeded"), [pod("unrelated", report()), owned])
    assert found.report is not None
    assert dict(found.report.counts) == {"events": 7}


def test_runs_are_ordered_oldest_first_and_running_ones_are_not_done() -> None:
    found = runs(
        [
            job("b", "Succeeded", at="2025-01-02T02:10:00Z"),
            job("a", "Failed", at="2025-01-01T02:10:00Z"),
            job("c", "Running"),
        ],
        [],
    )
    assert [(run.job, run.done) for run in found] == [("c", False), ("a", True), ("b", True)]


def test_a_verified_backup_makes_the_policy_ready_with_counts_and_the_last_good_backup() -> None:
    message = report(
        counts={"events": 1200, "objects": 3, "bytes": 52000},
        backup={"id": "b-1", "verified": True},
        stored={"backups": 5, "bytes": 260000},
    )
    observed = Observed(children={}, jobs=[job("j1", "Succeeded")], pods=[pod("j1", message)])
    fields, found = backup_status.status(OWNER, POLICY, observed, {})
    assert fields["observedGeneration"] == 4
    assert (fields["succeededRuns"], fields["failedRuns"], fields["activeRuns"]) == (1, 0, 0)
    assert fields["lastRun"]["events"] == 1200
    assert fields["lastVerifiedBackup"] == {
        "backupId": "b-1",
        "completionTime": "2025-01-01T02:10:00Z",
        "events": 1200,
        "bytes": 52000,
    }
    assert (fields["storedBackups"], fields["storedBytes"]) == (5, 260000)
    assert fields["lastSuccessTime"] == "2025-01-01T02:10:00Z"
    assert conditions(found) == {
        "SpecValid": ("True", "SpecAccepted"),
        "Ready": ("True", "Reconciled"),
        "Degraded": ("False", "AsExpected"),
        "BackupSucceeded": ("True", "BackupVerified"),
        "Progressing": ("False", "Idle"),
    }


def test_a_failed_run_degrades_the_policy_but_keeps_the_last_verified_backup() -> None:
    previous = {
        "succeededRuns": 1,
        "failedRuns": 0,
        "lastRun": {"job": "j1", "outcome": "Succeeded", "completionTime": "2025-01-01T02:10:00Z"},
        "lastVerifiedBackup": {"backupId": "b-1"},
        "lastSuccessTime": "2025-01-01T02:10:00Z",
    }
    failed = report("failed", error={"reason": "ChecksumMismatch", "message": "object 7"})
    observed = Observed(
        children={},
        jobs=[job("j1", "Succeeded"), job("j2", "Failed", at="2025-01-02T02:10:00Z")],
        pods=[
            pod("j1", report(backup={"id": "b-1", "verified": True})),
            pod("j2", failed, exit_code=1),
        ],
    )
    fields, found = backup_status.status(OWNER, POLICY, observed, previous)
    assert (fields["succeededRuns"], fields["failedRuns"]) == (1, 1), "j1 was counted before"
    assert fields["lastVerifiedBackup"] == {"backupId": "b-1"}
    assert fields["lastFailureTime"] == "2025-01-02T02:10:00Z"
    assert fields["lastSuccessTime"] == "2025-01-01T02:10:00Z"
    assert conditions(found)["BackupSucceeded"] == ("False", "ChecksumMismatch")
    assert conditions(found)["Ready"] == ("False", "ChecksumMismatch")
    assert conditions(found)["Degraded"] == ("True", "ChecksumMismatch")


def test_an_unverified_run_does_not_count_as_a_good_backup() -> None:
    observed = Observed(children={}, jobs=[job("j", "Succeeded")], pods=[pod("j", report())])
    fields, found = backup_status.status(OWNER, POLICY, observed, {})
    assert "lastVerifiedBackup" not in fields
    assert conditions(found)["BackupSucceeded"] == ("False", "NotVerified")


def test_counters_never_count_a_run_twice() -> None:
    observed = Observed(children={}, jobs=[job("j", "Succeeded")], pods=[pod("j", report())])
    first, _ = backup_status.status(OWNER, POLICY, observed, {})
    again, _ = backup_status.status(OWNER, POLICY, observed, first)
    assert again["succeededRuns"] == first["succeededRuns"] == 1


def test_a_running_job_makes_the_policy_progress_and_the_cronjob_gives_the_schedule_time() -> None:
    cron = {"status": {"lastScheduleTime": "2025-01-03T02:00:00Z"}}
    observed = Observed(children={("CronJob", "orders-backup"): cron}, jobs=[job("j", "Running")])
    fields, found = backup_status.status(OWNER, POLICY, observed, {})
    assert (fields["activeRuns"], fields["lastScheduleTime"]) == (1, "2025-01-03T02:00:00Z")
    assert conditions(found)["Progressing"] == ("True", "RunInProgress")
    assert conditions(found)["BackupSucceeded"] == ("Unknown", "NoRunYet")


def test_an_invalid_spec_is_reported_and_keeps_the_previous_counts() -> None:
    error = SpecError("InvalidSchedule", "spec.schedule '61 * * * *': out of range")
    fields, found = backup_status.status(OWNER, error, Observed(children={}), {"succeededRuns": 9})
    assert fields == {"succeededRuns": 9, "observedGeneration": 4}
    assert conditions(found) == {
        "SpecValid": ("False", "InvalidSchedule"),
        "Ready": ("False", "InvalidSchedule"),
        "Degraded": ("True", "InvalidSchedule"),
        "Progressing": ("False", "InvalidSpec"),
    }


def test_an_apply_failure_makes_the_policy_not_ready() -> None:
    observed = Observed(children={}, apply_error="CronJob orders-backup: HTTP 403: forbidden")
    _, found = backup_status.status(OWNER, POLICY, observed, {})
    assert conditions(found)["Ready"] == ("False", "ApplyFailed")


def continuous(**status: Any) -> Observed:
    deployment = {
        "metadata": {"generation": 1},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1, **status},
    }
    return Observed(children={("Deployment", "orders-backup"): deployment})


def test_a_continuous_policy_is_ready_while_its_archiver_is_available() -> None:
    spec = backup_policy({"name": "orders"}, {**_raw_policy(), "mode": "Continuous"})
    fields, found = backup_status.status(
        OWNER, spec, continuous(replicas=1, availableReplicas=1, updatedReplicas=1), {}
    )
    assert fields["activeRuns"] == 1
    assert conditions(found)["Archiving"] == ("True", "ArchiverRunning")
    assert conditions(found)["Ready"] == ("True", "Reconciled")
    _, down = backup_status.status(OWNER, spec, continuous(replicas=1), {})
    assert conditions(down)["Ready"] == ("False", "ArchiverUnavailable")
    assert conditions(down)["Progressing"] == ("True", "RollingOut")


def test_a_crashing_continuous_archiver_degrades_the_policy_with_its_reported_reason() -> None:
    spec = backup_policy({"name": "orders"}, {**_raw_policy(), "mode": "Continuous"})
    observed = continuous(replicas=1, availableReplicas=1, updatedReplicas=1)
    crashed = pod("x", report("failed", error={"reason": "BucketNotFound"}), exit_code=2)
    observed = Observed(children=observed.children, pods=[crashed])
    _, found = backup_status.status(OWNER, spec, observed, {})
    assert conditions(found)["Degraded"] == ("True", "BucketNotFound")


def _raw_policy() -> dict[str, Any]:
    return {
        "sources": {"kafka": {"bootstrapServers": "k:9092"}, "topics": ["orders"]},
        "destination": {"bucket": "dr-backups", "credentials": {"secretName": "s3"}},
    }


def test_crash_reads_the_log_tail_when_there_is_no_report() -> None:
    assert crash([pod("x", "boom", exit_code=137, component="drain")], "drain") == (
        "ContainerFailed",
        "boom",
    )
    assert crash([pod("x", "boom", exit_code=0, component="drain")], "drain") is None


def test_deployment_state_reads_replicas_and_rollout() -> None:
    assert deployment_state({}) == (0, 0, False)
    rolling = {"metadata": {"generation": 2}, "status": {"observedGeneration": 1, "replicas": 3}}
    assert deployment_state(rolling) == (3, 0, True)


def prune(
    name: str, phase: str, message: str | None, at: str = "2025-01-01T03:40:00Z"
) -> tuple[dict[str, Any], dict[str, Any]]:
    labels = {"app.kubernetes.io/component": dlqs.PRUNE}
    return job(name, phase, at=at, labels=labels), pod(name, message, component=dlqs.PRUNE)


def scaled(status: str, reason: str = "ScaledObjectReady") -> dict[str, Any]:
    return {"status": {"conditions": [{"type": "Ready", "status": status, "reason": reason}]}}


def test_an_archive_reports_drainers_scaler_and_the_archive_size_from_retention() -> None:
    pruned, pruned_pod = prune(
        "p1",
        "Succeeded",
        report(counts={"deletedObjects": 4}, stored={"events": 900, "objects": 12, "bytes": 4096}),
    )
    observed = Observed(
        children={
            ("Deployment", "dlq-drain"): {"status": {"replicas": 2}},
            ("ScaledObject", "dlq-drain"): scaled("True"),
        },
        jobs=[pruned],
        pods=[pruned_pod],
    )
    fields, found = dlq_status.status(ARCHIVE_OWNER, ARCHIVE, observed, {"prunedObjects": 10})
    assert fields["consumerGroup"] == "tidal-dlq-archive.shop.dlq"
    assert (
        fields["replicas"],
        fields["archivedEvents"],
        fields["archivedObjects"],
        fields["storedBytes"],
    ) == (
        2,
        900,
        12,
        4096,
    )
    assert (fields["prunedObjects"], fields["lastRetentionTime"]) == (14, "2025-01-01T03:40:00Z")
    assert conditions(found) == {
        "SpecValid": ("True", "SpecAccepted"),
        "Ready": ("True", "Reconciled"),
        "Degraded": ("False", "AsExpected"),
        "Progressing": ("False", "Idle"),
        "Draining": ("True", "Draining"),
        "ScalerReady": ("True", "ScaledObjectReady"),
        "RetentionApplied": ("True", "Pruned"),
    }


def test_an_archive_without_keda_status_waits_and_a_scaler_error_makes_it_not_ready() -> None:
    _, waiting = dlq_status.status(ARCHIVE_OWNER, ARCHIVE, Observed(children={}), {})
    assert conditions(waiting)["ScalerReady"] == ("Unknown", "AwaitingKEDA")
    assert conditions(waiting)["Draining"] == ("False", "ScaledToZero")
    assert conditions(waiting)["Ready"] == ("True", "Reconciled")
    broken = Observed(
        children={("ScaledObject", "dlq-drain"): scaled("False", "ScaledObjectCheckFailed")}
    )
    _, found = dlq_status.status(ARCHIVE_OWNER, ARCHIVE, broken, {})
    assert conditions(found)["Ready"] == ("False", "ScaledObjectCheckFailed")


def test_a_failed_retention_run_degrades_the_archive() -> None:
    failed, failed_pod = prune("p2", "Failed", report("failed", error={"reason": "AccessDenied"}))
    observed = Observed(children={}, jobs=[failed], pods=[failed_pod])
    fields, found = dlq_status.status(ARCHIVE_OWNER, ARCHIVE, observed, {})
    assert conditions(found)["RetentionApplied"] == ("False", "AccessDenied")
    assert conditions(found)["Degraded"] == ("True", "AccessDenied")
    assert fields["lastFailureTime"] == "2025-01-01T03:40:00Z"


@pytest.mark.parametrize(
    ("phase", "message", "expected", "condition"),
    [
        (None, None, {"runId": "r1"}, ("Unknown", "RedrivePending")),
        ("Running", None, {"runId": "r1", "phase": "Running"}, ("Unknown", "RedriveRunning")),
        (
            "Succeeded",
            report(counts={"redriven": 40, "skipped": 2, "failed": 0}),
            {"runId": "r1", "phase": "Succeeded", "redriven": 40, "skipped": 2, "failed": 0},
            ("True", "Redriven"),
        ),
        (
            "Failed",
            report("failed", error={"reason": "TopicNotFound", "message": "orders"}),
            {"runId": "r1", "phase": "Failed", "message": "orders"},
            ("False", "TopicNotFound"),
        ),
    ],
)
def test_a_redrive_request_is_followed_through_its_job(
    phase: str | None, message: str | None, expected: dict[str, Any], condition: tuple[str, str]
) -> None:
    spec = dlq_archive(
        {"name": "dlq", "namespace": "shop"}, {**ARCHIVE_SPEC, "redrive": {"runId": "r1"}}
    )
    labels = {"app.kubernetes.io/component": dlqs.REDRIVE, dlqs.RUN_ID_LABEL: "r1"}
    jobs = [job("dlq-redrive-1", phase, labels=labels)] if phase else []
    pods = [pod("dlq-redrive-1", message, component=dlqs.REDRIVE)] if message else []
    fields, found = dlq_status.status(
        ARCHIVE_OWNER, spec, Observed(children={}, jobs=jobs, pods=pods), {}
    )
    assert {key: fields["redrive"][key] for key in expected} == expected
    assert conditions(found)["RedriveSucceeded"] == condition
    assert conditions(found)["Progressing"][0] == ("True" if phase == "Running" else "False")


def test_a_redrive_of_another_run_id_is_not_mistaken_for_the_requested_one() -> None:
    spec = dlq_archive(
        {"name": "dlq", "namespace": "shop"}, {**ARCHIVE_SPEC, "redrive": {"runId": "r2"}}
    )
    labels = {"app.kubernetes.io/component": dlqs.REDRIVE, dlqs.RUN_ID_LABEL: "r1"}
    observed = Observed(children={}, jobs=[job("old", "Succeeded", labels=labels)])
    fields, found = dlq_status.status(ARCHIVE_OWNER, spec, observed, {})
    assert fields["redrive"] == {"runId": "r2"}
    assert conditions(found)["RedriveSucceeded"] == ("Unknown", "RedrivePending")


def test_an_invalid_archive_spec_is_reported_with_its_reason() -> None:
    error = SpecError("RedriveLoop", "spec.redrive.target.topic 'orders.dlq' is a drained topic")
    fields, found = dlq_status.status(ARCHIVE_OWNER, error, Observed(children={}), {})
    assert fields == {"observedGeneration": 2}
    assert conditions(found)["SpecValid"] == ("False", "RedriveLoop")
    assert conditions(found)["Ready"] == ("False", "RedriveLoop")


def test_a_condition_keeps_its_transition_time_until_its_status_changes() -> None:
    first = merged(
        [], [Condition("Ready", "True", "Reconciled")], now="2025-01-01T00:00:00Z", generation=1
    )
    same = merged(
        first, [Condition("Ready", "True", "Suspended")], now="2025-01-02T00:00:00Z", generation=2
    )
    flipped = merged(
        same, [Condition("Ready", "False", "X")], now="2025-01-03T00:00:00Z", generation=2
    )
    assert same[0]["lastTransitionTime"] == "2025-01-01T00:00:00Z"
    assert (same[0]["reason"], same[0]["observedGeneration"]) == ("Suspended", 2)
    assert flipped[0]["lastTransitionTime"] == "2025-01-03T00:00:00Z"


def test_times_are_written_as_kubernetes_writes_them() -> None:
    assert rfc3339(datetime(2025, 1, 2, 3, 4, 5, 678, tzinfo=UTC)) == "2025-01-02T03:04:05Z"


def test_a_finished_job_whose_pod_is_not_seen_yet_waits_for_its_result() -> None:
    just_after = datetime(2025, 1, 1, 2, 11, tzinfo=UTC)
    assert runs([job("j", "Succeeded")], [], now=just_after) == []
    [counted] = runs([job("j", "Succeeded")], [pod("j", report())], now=just_after)
    assert counted.report is not None
    later = datetime(2025, 1, 1, 2, 13, tzinfo=UTC)
    [without] = runs([job("j", "Succeeded")], [], now=later)
    assert (without.phase, without.report) == ("Succeeded", None)
    observed = Observed(children={}, jobs=[job("j", "Succeeded")], now=just_after)
    fields, _ = backup_status.status(OWNER, POLICY, observed, {})
    assert fields["succeededRuns"] == 0


def test_a_run_with_missing_topics_is_partially_failed_not_a_success() -> None:
    """Issue 16, finding 2: a run that backed up the topics there and missed a selected one
    (exit 3, which the Job's pod failure policy makes final) is PartiallyFailed in the status."""
    partial = report(
        "partiallyFailed",
        counts={"events": 900},
        backup={"id": "b-2", "verified": True, "missingTopics": ["orders.typo"]},
        error={"reason": "TopicsMissing", "message": "selected topics not in the source"},
    )
    observed = Observed(
        children={}, jobs=[job("j", "Failed", reason="PodFailurePolicy")],
        pods=[pod("j", partial, exit_code=3)],
    )  # fmt: skip
    fields, found = backup_status.status(OWNER, POLICY, observed, {})
    counters = (fields["succeededRuns"], fields["failedRuns"], fields["partiallyFailedRuns"])
    assert counters == (0, 0, 1)
    assert fields["lastRun"]["outcome"] == "PartiallyFailed"
    assert fields["lastRun"]["missingTopics"] == ["orders.typo"]
    assert fields["lastRun"]["reason"] == "TopicsMissing"
    assert fields["lastVerifiedBackup"]["backupId"] == "b-2"
    assert conditions(found)["BackupSucceeded"] == ("False", "TopicsMissing")


def test_a_run_with_unreadable_partitions_names_them_in_the_status() -> None:
    """Issue 16, partly readable partitions: the run's ``backup.unreadable`` (topic, partition,
    the offsets missing and why) becomes ``lastRun.unreadablePartitions``; the run counts as
    PartiallyFailed and its metric follows ``partiallyFailedRuns``."""
    gap = {"topic": "orders", "partition": 2, "from": 200, "to": 499, "reason": "LogTruncated"}
    partial = report(
        "partiallyFailed",
        counts={"events": 700},
        backup={"id": "b-3", "verified": True, "unreadable": [gap | {"extra": "x"}, "junk"]},
        error={"reason": "PartitionsUnreadable", "message": "orders/2 offsets 200-499"},
    )
    observed = Observed(
        children={}, jobs=[job("j", "Failed", reason="PodFailurePolicy")],
        pods=[pod("j", partial, exit_code=3)],
    )  # fmt: skip
    fields, found = backup_status.status(OWNER, POLICY, observed, {})
    assert fields["partiallyFailedRuns"] == 1
    assert fields["lastRun"]["outcome"] == "PartiallyFailed"
    assert fields["lastRun"]["unreadablePartitions"] == [gap]
    assert "missingTopics" not in fields["lastRun"]
    assert conditions(found)["BackupSucceeded"] == ("False", "PartitionsUnreadable")


def test_the_restore_test_is_reported_apart_from_the_backup_runs() -> None:
    """Issue 16, finding 6: a restore test's Job is no backup run; its outcome is
    ``lastRestoreTest`` and the RestoreTested condition."""
    policy = backup_policy(
        {"name": "orders"},
        {
            "sources": {"kafka": {"bootstrapServers": "k:9092"}, "topics": ["orders"]},
            "destination": {"bucket": "dr-backups", "credentials": {"secretName": "s3"}},
            "restoreTest": {"kafka": {"bootstrapServers": "scratch:9092"}},
        },
    )
    labels = {"app.kubernetes.io/component": "restore-test"}
    mismatch = report(
        "failed",
        backup={"id": "b-7", "verified": True, "restored": False},
        error={"reason": "RestoreTestMismatch", "message": "orders/0: 9 records, not 10"},
    )
    observed = Observed(
        children={},
        jobs=[job("b", "Succeeded"), job("t", "Failed", labels=labels)],
        pods=[
            pod("b", report(backup={"id": "b-7", "verified": True})),
            pod("t", mismatch, exit_code=1, component="restore-test"),
        ],
    )
    fields, found = backup_status.status(OWNER, policy, observed, {})
    assert (fields["succeededRuns"], fields["failedRuns"]) == (1, 0)
    assert fields["lastRestoreTest"]["outcome"] == "Failed"
    assert fields["lastRestoreTest"]["backupId"] == "b-7"
    assert conditions(found)["RestoreTested"] == ("False", "RestoreTestMismatch")
    assert conditions(found)["Degraded"] == ("True", "RestoreTestMismatch")
