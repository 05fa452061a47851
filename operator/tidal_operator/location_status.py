"""A BackupLocation's status from its spec (or the reason it is invalid) and its sync Jobs.

The newest finished sync's listing replaces ``backups`` (so a backup deleted from the store
disappears from the status), with ``lastSyncedTime``, ``storedBackups``, ``listedBackups`` and
``unreadableBackups``; a failed sync keeps the previous listing and says why. Conditions:
``Synced`` and the common ``Ready`` / ``Progressing`` / ``Degraded``. Pure; called by
``tidal_operator.reconciling``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tidal_operator import locations
from tidal_operator.checks import SpecError
from tidal_operator.conditions import FALSE, TRUE, UNKNOWN, Condition
from tidal_operator.results import runs
from tidal_operator.specs import Owner
from tidal_operator.summarizing import Observed, Summary, readiness, summary, without_none


def _synced(result: dict[str, Any], observed: Observed) -> Condition:
    done = [run for run in runs(observed.jobs, observed.pods, now=observed.now) if run.done]
    last = done[-1] if done else None
    if last is not None and last.finished != result.get("lastSyncAttempt"):
        result["lastSyncAttempt"] = last.finished
        report = last.report
        if last.phase == "Succeeded" and report is not None and report.listing is not None:
            listing = report.listing
            result["backups"] = locations.backups_of(listing)
            result["lastSyncedTime"] = last.finished
            result["storedBackups"] = int(listing.get("backups") or 0)
            result["listedBackups"] = len(result["backups"])
            result["unreadableBackups"] = int(listing.get("unreadable") or 0)
            result["reason"] = result["message"] = ""
        else:
            result["reason"] = last.reason or "SyncFailed"
            result["message"] = last.message or "the sync reported no listing"
    if result.get("reason"):
        return Condition("Synced", FALSE, str(result["reason"]), str(result.get("message") or ""))
    if not result.get("lastSyncedTime"):
        return Condition("Synced", UNKNOWN, "NoSyncYet", "no sync has finished yet")
    message = f"{result.get('storedBackups', 0)} backups at {result['lastSyncedTime']}"
    return Condition("Synced", TRUE, "Listed", message)


def _summarize(
    owner: Owner, spec: locations.LocationSpec, observed: Observed, result: dict[str, Any]
) -> Summary:
    synced = _synced(result, observed)
    active = sum(1 for run in runs(observed.jobs, observed.pods, now=observed.now) if not run.done)
    progressing = Condition(
        "Progressing", TRUE if active else FALSE, "Syncing" if active else "Idle", ""
    )
    problems = [synced] if synced.status == FALSE else []
    reason, message = ("Suspended", "spec.suspend is true") if spec.suspend else ("Reconciled", "")
    ready = Condition("Ready", TRUE, reason, message)
    return without_none(result), [*readiness(observed, problems, ok=ready), progressing, synced]


def status(
    owner: Owner,
    spec: locations.LocationSpec | SpecError,
    observed: Observed,
    previous: Mapping[str, Any],
) -> Summary:
    """The new status fields (without conditions) and the conditions to merge into it."""
    return summary(owner, spec, observed, previous, _summarize)
