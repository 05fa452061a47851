"""A Restore's status from its spec (or the reason it is invalid) and its Job's result.

``phase`` is Pending until the Job runs, then Running, then the run's outcome (Succeeded,
PartiallyFailed, Failed) with its counts; a finished restore whose Job is gone keeps what the
status recorded. Conditions: ``RestoreSucceeded`` and the common ``Ready`` / ``Progressing`` /
``Degraded``. Pure; called by ``tidal_operator.reconciling``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tidal_operator import restores
from tidal_operator.checks import SpecError
from tidal_operator.conditions import FALSE, TRUE, UNKNOWN, Condition
from tidal_operator.results import runs
from tidal_operator.summarizing import (
    Observed,
    Summary,
    last_outcome_times,
    newer_runs,
    readiness,
    run_fields,
    summary,
    without_none,
)

COUNTS = ("events", "present", "skipped", "groupOffsets")


def _condition(status: Mapping[str, Any]) -> Condition:
    phase = status.get("phase")
    if phase == "Succeeded":
        events, present = status.get("events", 0), status.get("present", 0)
        message = f"backup {status.get('backupId')}: {events} events sent, {present} present"
        return Condition("RestoreSucceeded", TRUE, "Restored", message)
    if phase in ("Failed", "PartiallyFailed"):
        reason = str(status.get("reason") or f"Restore{phase}")
        return Condition("RestoreSucceeded", FALSE, reason, str(status.get("message") or ""))
    return Condition("RestoreSucceeded", UNKNOWN, f"Restore{phase or 'Pending'}", "")


def _summarize(
    owner: Any, spec: restores.RestoreSpec, observed: Observed, result: dict[str, Any]
) -> Summary:
    found = [r for r in runs(observed.jobs, observed.pods, now=observed.now)
             if r.job == restores.job_name(owner)]  # fmt: skip
    result["runId"] = restores.run_id(owner)
    if found:
        result.update(run_fields(found[-1], phase_key="phase", counts=COUNTS))
        result.update(last_outcome_times(result, newer_runs(found, None)))
    elif result.get("phase") not in restores.FINISHED:
        result["phase"] = "Pending"
    outcome = _condition(result)
    busy = result.get("phase") in ("Pending", "Running")
    progressing = Condition(
        "Progressing", TRUE if busy else FALSE, "Restoring" if busy else "Done", ""
    )
    problems = [outcome] if outcome.status == FALSE else []
    ready = Condition("Ready", TRUE, "Reconciled", "")
    return without_none(result), [*readiness(observed, problems, ok=ready), progressing, outcome]


def status(
    owner: Any,
    spec: restores.RestoreSpec | SpecError,
    observed: Observed,
    previous: Mapping[str, Any],
) -> Summary:
    """The new status fields (without conditions) and the conditions to merge into it."""
    return summary(owner, spec, observed, previous, _summarize)
