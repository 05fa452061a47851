"""Results of the children's runs: Job conditions plus the container's termination message.

The data plane (``tidal backup run``, ``tidal dlq drain|prune|redrive``) writes one JSON object,
at most 4096 bytes, to ``--result-file`` (``/dev/termination-log``) before it exits::

    {"schema": "tidal.dev/run-result/v1", "command": "backup run", "outcome": "succeeded",
     "startedAt": "...Z", "finishedAt": "...Z",
     "counts": {"events": 1200, "objects": 3, "bytes": 52000},
     "backup": {"id": "2025-01-01T02-00-00Z", "verified": true},
     "stored": {"backups": 12, "objects": 40, "events": 90000, "bytes": 3100000},
     "error": {"reason": "ChecksumMismatch", "message": "..."}}

Every key but ``schema`` and ``outcome`` is optional; unknown keys are ignored. A message that is
not such JSON (the kubelet falls back to the log tail on errors) still yields a run, with the
Job's own reason. The contract is documented in ``docs/operator.md``. Pure; called by
``tidal_operator.statuses``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from tidal_operator.pods import CONTAINER

SCHEMA: Final = "tidal.dev/run-result/v1"
PARTIALLY_FAILED: Final = "partiallyFailed"
"""The outcome of a run that did part of its work (Velero's phase name, PartiallyFailed)."""
JOB_NAME_LABELS: Final = ("batch.kubernetes.io/job-name", "job-name")
MESSAGE_LIMIT: Final = 1024
RESULT_GRACE: Final = timedelta(minutes=2)
"""How long a finished Job's result may lag behind its status before the run counts without it."""


@dataclass(frozen=True)
class Report:
    """One parsed termination message."""

    succeeded: bool
    partial: bool = False
    """The run did part of its work (outcome ``partiallyFailed``, exit code 3)."""
    counts: Mapping[str, int] = field(default_factory=dict)
    stored: Mapping[str, int] = field(default_factory=dict)
    backup_id: str | None = None
    verified: bool = False
    reason: str | None = None
    message: str | None = None
    finished_at: str | None = None
    missing_topics: tuple[str, ...] = ()
    unreadable: tuple[Mapping[str, Any], ...] = ()
    """Partitions not read to their end: ``{topic, partition, from, to, reason}`` each."""
    listing: Mapping[str, Any] | None = None
    """``backup sync``: the store's backups (see ``tidal_operator.locations``)."""


@dataclass(frozen=True)
class Run:
    """One Job: where it is, when it started and ended, and what it reported."""

    job: str
    phase: str  # Running | Succeeded | PartiallyFailed | Failed
    started: str | None
    finished: str | None
    labels: Mapping[str, str]
    report: Report | None = None
    reason: str | None = None
    message: str | None = None
    terminated: bool = False
    """A terminated tidal container was seen (its message, if any, is in ``report``)."""

    @property
    def done(self) -> bool:
        return self.phase != "Running"


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 time stamp as an aware datetime (None stays None)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _ints(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        return {}
    return {
        str(k): int(v) for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)
    }


def _gap(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """One ``backup.unreadable`` entry with only the known keys, each of its type."""
    numbers = {k: raw[k] for k in ("partition", "from", "to") if isinstance(raw.get(k), int)}
    texts = {k: str(raw[k])[:256] for k in ("topic", "reason") if raw.get(k) is not None}
    return texts | numbers


def parse_report(text: str | None) -> Report | None:
    """The report in a termination message, or None when it is not one."""
    try:
        data = json.loads(text or "")
    except ValueError:
        return None
    if not isinstance(data, Mapping) or data.get("schema") != SCHEMA:
        return None
    backup, error = _mapping(data.get("backup")), _mapping(data.get("error"))
    missing = backup.get("missingTopics")
    unreadable = backup.get("unreadable")
    return Report(
        succeeded=data.get("outcome") == "succeeded",
        partial=data.get("outcome") == PARTIALLY_FAILED,
        missing_topics=tuple(str(t) for t in missing) if isinstance(missing, list) else (),
        unreadable=tuple(_gap(g) for g in unreadable if isinstance(g, Mapping))
        if isinstance(unreadable, list)
        else (),
        counts=_ints(data.get("counts")),
        stored=_ints(data.get("stored")),
        backup_id=str(backup["id"]) if backup.get("id") else None,
        verified=backup.get("verified") is True,
        reason=str(error["reason"]) if error.get("reason") else None,
        message=str(error["message"])[:MESSAGE_LIMIT] if error.get("message") else None,
        finished_at=data.get("finishedAt") if isinstance(data.get("finishedAt"), str) else None,
        listing=data["listing"] if isinstance(data.get("listing"), Mapping) else None,
    )


def _terminated(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for status in pod.get("status", {}).get("containerStatuses", []):
        if status.get("name") == CONTAINER:
            state = _mapping(status.get("state", {}).get("terminated"))
            return state or _mapping(status.get("lastState", {}).get("terminated")) or None
    return None


def _belongs(pod: Mapping[str, Any], job: str) -> bool:
    meta = pod.get("metadata", {})
    if any(meta.get("labels", {}).get(label) == job for label in JOB_NAME_LABELS):
        return True
    return any(
        ref.get("kind") == "Job" and ref.get("name") == job
        for ref in meta.get("ownerReferences", [])
    )


def termination(pods: Sequence[Mapping[str, Any]], job: str) -> Mapping[str, Any] | None:
    """The newest terminated state of the tidal container among a Job's pods."""
    states = [state for pod in pods if _belongs(pod, job) and (state := _terminated(pod))]
    return max(states, key=lambda state: str(state.get("finishedAt") or ""), default=None)


def _condition(job: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in job.get("status", {}).get("conditions", []):
        if condition.get("type") == kind and condition.get("status") == "True":
            return _mapping(condition)
    return None


def run_of(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> Run:
    """One Job's run, its report read from its pods' termination messages."""
    meta, status = job.get("metadata", {}), job.get("status", {})
    complete, failed = _condition(job, "Complete"), _condition(job, "Failed")
    state = termination(pods, meta.get("name", ""))
    report = parse_report(state.get("message")) if state else None
    phase = "Failed" if failed else "Succeeded" if complete else "Running"
    if phase == "Succeeded" and report is not None and not report.succeeded:
        phase = "Failed"
    if phase != "Running" and report is not None and report.partial:
        phase = "PartiallyFailed"
    finished = status.get("completionTime") or (failed or {}).get("lastTransitionTime")
    if phase == "Running":
        return Run(
            meta.get("name", ""), phase, status.get("startTime"), None, meta.get("labels", {})
        )
    reason = (report.reason if report else None) or (failed or {}).get("reason")
    message = (report.message if report else None) or _tail(state, failed)
    return Run(
        job=meta.get("name", ""),
        phase=phase,
        started=status.get("startTime"),
        finished=finished or (report.finished_at if report else None),
        labels=meta.get("labels", {}),
        report=report,
        reason=reason if phase in ("Failed", "PartiallyFailed") else None,
        message=message if phase in ("Failed", "PartiallyFailed") else None,
        terminated=state is not None,
    )


def _tail(state: Mapping[str, Any] | None, failed: Mapping[str, Any] | None) -> str | None:
    text = (state or {}).get("message") or (failed or {}).get("message")
    return str(text)[-MESSAGE_LIMIT:] if text else None


def _awaiting_result(run: Run, now: datetime | None) -> bool:
    finished = parse_time(run.finished)
    recent = now is not None and finished is not None and now - finished < RESULT_GRACE
    return run.done and not run.terminated and recent


def runs(
    jobs: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    *,
    now: datetime | None = None,
) -> list[Run]:
    """Every Job's run, oldest first (by finish, else start time).

    A Job that finished less than ``RESULT_GRACE`` before ``now`` and whose pod is not seen yet
    is left out: it is counted once its result can be read, or once the grace has passed.
    """
    found = [run for job in jobs if not _awaiting_result(run := run_of(job, pods), now)]
    return sorted(found, key=lambda run: (run.finished or run.started or "", run.job))
