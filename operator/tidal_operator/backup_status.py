"""A BackupPolicy's status from its spec (or the reason it is invalid) and its observed children.

Counters grow by the runs finished since the last recorded run, so history limits on the
CronJob lose nothing; the newest verified backup is remembered ("keep last good"). Pure; called
by ``tidal_operator.reconciling``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tidal_operator import backups
from tidal_operator.checks import SpecError
from tidal_operator.conditions import FALSE, TRUE, UNKNOWN, Condition
from tidal_operator.results import Run, runs
from tidal_operator.specs import BackupPolicySpec, Owner
from tidal_operator.summarizing import (
    Observed,
    Summary,
    crashed,
    deployment_state,
    last_outcome_times,
    newer_runs,
    readiness,
    run_fields,
    summary,
    without_none,
)


def _run_fields(run: Run) -> dict[str, Any]:
    report = run.report
    fields = run_fields(run, phase_key="outcome", counts=("events", "objects", "bytes"))
    extra = {
        "verified": report.verified if report else False,
        "missingTopics": list(report.missing_topics) if report and report.missing_topics else None,
        "unreadablePartitions": [dict(g) for g in report.unreadable]
        if report and report.unreadable
        else None,
    }
    return fields | without_none(extra)


def tally(previous: Mapping[str, Any], found: Sequence[Run]) -> dict[str, Any]:
    """Counters, last run, last success / failure and the newest verified backup."""
    fresh = newer_runs(found, previous.get("lastRun", {}).get("completionTime"))
    succeeded = [run for run in fresh if run.phase == "Succeeded"]
    partial = [run for run in fresh if run.phase == "PartiallyFailed"]
    written = [run for run in fresh if run.phase in ("Succeeded", "PartiallyFailed")]
    verified = [run for run in written if run.report and run.report.verified]
    stored = written[-1].report.stored if written and written[-1].report else {}
    result = dict(previous) | {
        "succeededRuns": int(previous.get("succeededRuns") or 0) + len(succeeded),
        "failedRuns": int(previous.get("failedRuns") or 0) + len(fresh) - len(written),
        "partiallyFailedRuns": int(previous.get("partiallyFailedRuns") or 0) + len(partial),
        **last_outcome_times(previous, fresh),
    }
    if fresh:
        result["lastRun"] = _run_fields(fresh[-1])
    if verified:
        last = _run_fields(verified[-1])
        keys = ("backupId", "completionTime", "events", "bytes")
        result["lastVerifiedBackup"] = {key: last[key] for key in keys if key in last}
    if "backups" in stored:
        result["storedBackups"] = stored["backups"]
    if "bytes" in stored:
        result["storedBytes"] = stored["bytes"]
    return without_none(result)


def _outcome(last: Mapping[str, Any]) -> Condition:
    if not last:
        return Condition("BackupSucceeded", UNKNOWN, "NoRunYet", "no run has finished yet")
    if last.get("outcome") in ("Failed", "PartiallyFailed"):
        default = "BackupFailed" if last.get("outcome") == "Failed" else "PartiallyFailed"
        reason = str(last.get("reason") or default)
        return Condition("BackupSucceeded", FALSE, reason, str(last.get("message") or ""))
    if not last.get("verified"):
        return Condition(
            "BackupSucceeded", FALSE, "NotVerified", "the run did not verify its checksums"
        )
    return Condition("BackupSucceeded", TRUE, "BackupVerified", f"backup {last.get('backupId')}")


COMPONENT_LABEL = "app.kubernetes.io/component"


def _of(found: Sequence[Run], component: str) -> list[Run]:
    """The runs of one component (a Job without the label is a backup run: older operators)."""
    return [r for r in found if r.labels.get(COMPONENT_LABEL, backups.COMPONENT) == component]


def restore_test(previous: dict[str, Any], found: Sequence[Run]) -> Condition:
    """``lastRestoreTest`` (in ``previous``, updated) and the RestoreTested condition."""
    done = [run for run in _of(found, backups.RESTORE_TEST) if run.done]
    if done:
        run = done[-1]
        report = run.report
        previous["lastRestoreTest"] = without_none({
            "job": run.job, "outcome": "Succeeded" if run.phase == "Succeeded" else "Failed",
            "backupId": report.backup_id if report else None, "completionTime": run.finished,
            "events": report.counts.get("events") if report else None,
            "reason": run.reason, "message": run.message,
        })  # fmt: skip
    last = previous.get("lastRestoreTest") or {}
    if not last:
        return Condition("RestoreTested", UNKNOWN, "NoRunYet", "no restore test has finished")
    if last.get("outcome") != "Succeeded":
        reason = str(last.get("reason") or "RestoreTestFailed")
        return Condition("RestoreTested", FALSE, reason, str(last.get("message") or ""))
    return Condition(
        "RestoreTested", TRUE, "RestoredIdentical", f"backup {last.get('backupId')} restored"
    )


def _scheduled(
    owner: Owner, observed: Observed, status: dict[str, Any]
) -> tuple[list[Condition], list[Condition]]:
    found = _of(runs(observed.jobs, observed.pods, now=observed.now), backups.COMPONENT)
    status.update(tally(status, found))
    cron = observed.child("CronJob", backups.child_name(owner))
    if cron.get("status", {}).get("lastScheduleTime"):
        status["lastScheduleTime"] = cron["status"]["lastScheduleTime"]
    active = sum(1 for run in found if not run.done)
    status["activeRuns"] = active
    outcome = _outcome(status.get("lastRun", {}))
    progressing = (
        Condition("Progressing", TRUE, "RunInProgress", f"{active} run(s) in progress")
        if active
        else Condition("Progressing", FALSE, "Idle", "waiting for the next schedule tick")
    )
    problems = [outcome] if outcome.status == FALSE else []
    return [outcome, progressing], problems


def _continuous(
    owner: Owner, spec: BackupPolicySpec, observed: Observed, status: dict[str, Any]
) -> tuple[list[Condition], list[Condition]]:
    deployment = observed.child("Deployment", backups.child_name(owner))
    replicas, available, rolling = deployment_state(deployment)
    status["activeRuns"] = replicas
    archiving = (
        Condition("Archiving", TRUE, "ArchiverRunning", "the continuous archiver is available")
        if available
        else Condition("Archiving", FALSE, "Suspended" if spec.suspend else "ArchiverUnavailable")
    )
    progressing = (
        Condition("Progressing", TRUE, "RollingOut", "the archiver Deployment is rolling out")
        if rolling
        else Condition("Progressing", FALSE, "RolledOut", "")
    )
    problems = crashed(observed, backups.COMPONENT)
    if not available and not spec.suspend:
        problems.append(archiving)
    return [archiving, progressing], problems


def _summarize(
    owner: Owner, spec: BackupPolicySpec, observed: Observed, result: dict[str, Any]
) -> Summary:
    if spec.continuous:
        specific, problems = _continuous(owner, spec, observed, result)
    else:
        specific, problems = _scheduled(owner, observed, result)
    if spec.restore_test is not None:
        tested = restore_test(result, runs(observed.jobs, observed.pods, now=observed.now))
        specific.append(tested)
        problems += [tested] if tested.status == FALSE else []
    reason, message = ("Suspended", "spec.suspend is true") if spec.suspend else ("Reconciled", "")
    ok = Condition("Ready", TRUE, reason, message)
    return result, [*readiness(observed, problems, ok=ok), *specific]


def status(
    owner: Owner,
    spec: BackupPolicySpec | SpecError,
    observed: Observed,
    previous: Mapping[str, Any],
) -> Summary:
    """The new status fields (without conditions) and the conditions to merge into it."""
    return summary(owner, spec, observed, previous, _summarize)
