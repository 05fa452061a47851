"""A DLQArchive's status from its spec (or the reason it is invalid) and its observed children.

Archive size comes from the newest retention run's report (``stored``), drainer health from
the Deployment, the ScaledObject's Ready condition and the drainer pods' exits, and the re-drive
status from the Job of the requested ``runId``. Pure; called by ``tidal_operator.reconciling``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from tidal_operator import dlqs
from tidal_operator.checks import SpecError
from tidal_operator.conditions import FALSE, TRUE, UNKNOWN, Condition
from tidal_operator.results import Run, runs
from tidal_operator.specs import DLQArchiveSpec, Owner
from tidal_operator.summarizing import (
    Observed,
    Summary,
    crashed,
    deployment_state,
    last_outcome_times,
    latest_time,
    newer_runs,
    readiness,
    summary,
    without_none,
)

COMPONENT_LABEL = "app.kubernetes.io/component"


def _component(found: Sequence[Run], component: str) -> list[Run]:
    return [run for run in found if run.labels.get(COMPONENT_LABEL) == component]


def retention(
    previous: Mapping[str, Any], prunes: Sequence[Run]
) -> tuple[dict[str, Any], Condition]:
    """Archive size, pruned total and the RetentionApplied condition from the prune runs."""
    fresh = newer_runs(prunes, previous.get("lastRetentionTime"))
    last_time = latest_time(previous.get("lastRetentionTime"), fresh, None)
    result: dict[str, Any] = {"lastRetentionTime": last_time}
    deleted = sum(
        (run.report.counts.get("deletedObjects", 0) if run.report else 0) for run in fresh
    )
    result["prunedObjects"] = int(previous.get("prunedObjects") or 0) + deleted
    done = [run for run in prunes if run.done]
    if not done:
        return without_none(result), Condition("RetentionApplied", UNKNOWN, "NoRunYet", "")
    last = done[-1]
    if last.phase == "Failed":
        return without_none(result), Condition(
            "RetentionApplied", FALSE, last.reason or "RetentionFailed", last.message or ""
        )
    stored = last.report.stored if last.report else {}
    for field, key in (
        ("archivedEvents", "events"),
        ("archivedObjects", "objects"),
        ("storedBytes", "bytes"),
    ):
        if key in stored:
            result[field] = stored[key]
    return without_none(result), Condition("RetentionApplied", TRUE, "Pruned", f"run {last.job}")


FINISHED: Final = ("Succeeded", "Failed", "PartiallyFailed")


def settled(spec: DLQArchiveSpec, status: Mapping[str, Any]) -> DLQArchiveSpec:
    """``spec`` with its re-drive marked finished when the status says this run id finished:
    the operator never runs a finished run id again (a suspend and resume, or a Job deleted
    by its TTL, would otherwise recreate it)."""
    recorded = status.get("redrive") or {}
    run_id = spec.redrive.run_id
    if run_id and recorded.get("runId") == run_id and recorded.get("phase") in FINISHED:
        return replace(spec, redrive=replace(spec.redrive, finished=True))
    return spec


def redrive(
    run_id: str, found: Sequence[Run], previous: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], Condition]:
    """The re-drive status and condition of the requested run (a finished run whose Job is
    gone keeps what the status recorded)."""
    mine = [run for run in found if run.labels.get(dlqs.RUN_ID_LABEL) == run_id]
    kept = dict(previous or {})
    if not mine and kept.get("runId") == run_id and kept.get("phase") in FINISHED:
        return kept, _finished(kept)
    if not mine:
        pending = Condition(
            "RedriveSucceeded", UNKNOWN, "RedrivePending", f"run {run_id} not started"
        )
        return {"runId": run_id}, pending
    run = mine[-1]
    counts = run.report.counts if run.report else {}
    fields = without_none(
        {
            "runId": run_id,
            "job": run.job,
            "phase": run.phase,
            "redriven": counts.get("redriven"),
            "skipped": counts.get("skipped"),
            "failed": counts.get("failed"),
            "present": counts.get("present"),
            "completionTime": run.finished,
            "message": run.message,
        }
    )
    if run.phase == "Running":
        return fields, Condition("RedriveSucceeded", UNKNOWN, "RedriveRunning", f"job {run.job}")
    fields["reason"] = run.reason
    return without_none(fields), _finished(fields)


def _finished(fields: Mapping[str, Any]) -> Condition:
    if fields.get("phase") in ("Failed", "PartiallyFailed"):
        return Condition(
            "RedriveSucceeded",
            FALSE,
            str(fields.get("reason") or "RedriveFailed"),
            str(fields.get("message") or ""),
        )
    return Condition("RedriveSucceeded", TRUE, "Redriven", f"{fields.get('redriven', 0)} events")


def _scaler(scaled_object: Mapping[str, Any]) -> Condition:
    for condition in scaled_object.get("status", {}).get("conditions", []):
        if condition.get("type") == "Ready" and condition.get("status") in (TRUE, FALSE):
            status = str(condition["status"])
            reason = str(
                condition.get("reason")
                or ("ScaledObjectReady" if status == TRUE else "ScaledObjectNotReady")
            )
            return Condition("ScalerReady", status, reason, str(condition.get("message") or ""))
    return Condition(
        "ScalerReady", UNKNOWN, "AwaitingKEDA", "KEDA has not reported on the ScaledObject"
    )


def _drainer(
    owner: Owner, spec: DLQArchiveSpec, observed: Observed, status: dict[str, Any]
) -> tuple[Condition, bool]:
    replicas, _, rolling = deployment_state(observed.child("Deployment", dlqs.drain_name(owner)))
    status["replicas"] = replicas
    if replicas:
        return Condition("Draining", TRUE, "Draining", f"{replicas} drainer pod(s)"), rolling
    reason = "Suspended" if spec.suspend else "ScaledToZero"
    return Condition(
        "Draining", FALSE, reason, "no lag to drain" if not spec.suspend else ""
    ), rolling


def _conditions(
    owner: Owner, spec: DLQArchiveSpec, observed: Observed, status: dict[str, Any]
) -> list[Condition]:
    found = runs(observed.jobs, observed.pods, now=observed.now)
    fields, retained = retention(status, _component(found, dlqs.PRUNE))
    status.update(fields)
    status.update(last_outcome_times(status, newer_runs(found, None)))
    draining, rolling = _drainer(owner, spec, observed, status)
    scaler = _scaler(observed.child("ScaledObject", dlqs.drain_name(owner)))
    specific = [draining, scaler, retained]
    if spec.redrive.run_id:
        status["redrive"], redriven = redrive(
            spec.redrive.run_id, _component(found, dlqs.REDRIVE), status.get("redrive")
        )
        specific.append(redriven)
    busy = rolling or any(c.reason == "RedriveRunning" for c in specific)
    progressing = Condition(
        "Progressing", TRUE if busy else FALSE, "Working" if busy else "Idle", ""
    )
    problems = [c for c in (scaler, retained, *specific[3:]) if c.status == FALSE]
    problems += crashed(observed, dlqs.DRAIN)
    reason = "Suspended" if spec.suspend else "Reconciled"
    return [
        *readiness(observed, problems, ok=Condition("Ready", TRUE, reason, "")),
        progressing,
        *specific,
    ]


def _summarize(
    owner: Owner, spec: DLQArchiveSpec, observed: Observed, result: dict[str, Any]
) -> Summary:
    result["consumerGroup"] = spec.consumer_group
    conditions = _conditions(owner, spec, observed, result)
    return without_none(result), conditions


def status(
    owner: Owner,
    spec: DLQArchiveSpec | SpecError,
    observed: Observed,
    previous: Mapping[str, Any],
) -> Summary:
    """The new status fields (without conditions) and the conditions to merge into it."""
    return summary(owner, spec, observed, previous, _summarize)
