"""What both kinds' statuses are made of: run tallies, deployments, crashed pods, times.

Pure helpers over plain dicts of observed children, and ``summary``, the frame of either kind's
status (carried fields, SpecValid, the refusal of an invalid spec); called by ``backup_status``
and ``dlq_status``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from tidal_operator.checks import SpecError
from tidal_operator.conditions import FALSE, TRUE, Condition, invalid_conditions, ready_and_degraded
from tidal_operator.pods import CONTAINER
from tidal_operator.results import Run, parse_report, parse_time
from tidal_operator.specs import Owner

SpecT = TypeVar("SpecT")
Summary = tuple[dict[str, Any], list[Condition]]
"""The new status fields (without conditions) and the conditions to merge into them."""


@dataclass(frozen=True)
class Observed:
    """What the handler read from the cluster for one resource, as plain dicts."""

    children: Mapping[tuple[str, str], Mapping[str, Any]]
    jobs: Sequence[Mapping[str, Any]] = ()
    pods: Sequence[Mapping[str, Any]] = ()
    apply_error: str | None = None
    now: datetime | None = None
    """When it was observed (lets a finished Job's result arrive a little after its status)."""

    def child(self, kind: str, name: str) -> Mapping[str, Any]:
        return self.children.get((kind, name), {})


def rfc3339(moment: datetime) -> str:
    """``2025-01-01T02:00:00Z``: whole seconds, UTC, as Kubernetes writes times."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def newer_runs(runs: Sequence[Run], since: str | None) -> list[Run]:
    """Finished runs that finished after ``since`` (all finished runs when it is None)."""
    mark = parse_time(since)
    done = [run for run in runs if run.done and run.finished]
    return [run for run in done if mark is None or (parse_time(run.finished) or mark) > mark]


def _moment(time: str) -> datetime:
    return parse_time(time) or datetime.min.replace(tzinfo=UTC)


def latest_time(previous: str | None, runs: Sequence[Run], phase: str | None) -> str | None:
    """The newest finish time of ``phase`` runs (any if None), or ``previous`` if none is newer."""
    times = [run.finished for run in runs if phase in (None, run.phase) and run.finished]
    candidates = [time for time in [previous, *times] if time]
    return max(candidates, key=_moment) if candidates else None


def last_outcome_times(
    previous: Mapping[str, Any], finished: Sequence[Run]
) -> dict[str, str | None]:
    """``lastSuccessTime`` and ``lastFailureTime``, the status times both kinds carry: the newest
    finish of a succeeded and of a failed run among ``finished``, or the time ``previous`` holds."""
    return {
        "lastSuccessTime": latest_time(previous.get("lastSuccessTime"), finished, "Succeeded"),
        "lastFailureTime": latest_time(previous.get("lastFailureTime"), finished, "Failed"),
    }


def deployment_state(deployment: Mapping[str, Any]) -> tuple[int, int, bool]:
    """(replicas, available replicas, still rolling out) of a Deployment."""
    spec, status = deployment.get("spec", {}), deployment.get("status", {})
    replicas = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    generation = int(deployment.get("metadata", {}).get("generation") or 0)
    stale = int(status.get("observedGeneration") or 0) < generation
    wanted = spec.get("replicas")
    rolling = stale or (
        wanted is not None and int(status.get("updatedReplicas") or 0) < int(wanted)
    )
    return replicas, available, rolling


def crash(pods: Sequence[Mapping[str, Any]], component: str) -> tuple[str, str] | None:
    """(reason, message) of the newest failed exit of a long-running component's container."""
    exits = []
    for pod in pods:
        if (
            pod.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/component")
            != component
        ):
            continue
        for status in pod.get("status", {}).get("containerStatuses", []):
            for key in ("state", "lastState"):
                terminated = status.get(key, {}).get("terminated")
                if status.get("name") == CONTAINER and terminated and terminated.get("exitCode"):
                    exits.append(terminated)
    if not exits:
        return None
    newest = max(exits, key=lambda state: str(state.get("finishedAt") or ""))
    report = parse_report(newest.get("message"))
    reason = (report.reason if report else None) or str(newest.get("reason") or "ContainerFailed")
    message = (report.message if report else None) or str(newest.get("message") or "")[-1024:]
    return reason, message


def crashed(observed: Observed, component: str) -> list[Condition]:
    """Degraded, naming the newest crash of ``component``'s container; empty if none crashed."""
    failure = crash(observed.pods, component)
    return [Condition("Degraded", TRUE, *failure)] if failure else []


def readiness(
    observed: Observed, problems: Sequence[Condition], *, ok: Condition
) -> list[Condition]:
    """Ready and Degraded: a failed apply comes before the kind's ``problems``; ``ok`` if none."""
    if observed.apply_error:
        problems = [Condition("Ready", FALSE, "ApplyFailed", observed.apply_error), *problems]
    return ready_and_degraded(problems, ok=ok)


def summary(
    owner: Owner,
    spec: SpecT | SpecError,
    observed: Observed,
    previous: Mapping[str, Any],
    summarize: Callable[[Owner, SpecT, Observed, dict[str, Any]], Summary],
) -> Summary:
    """Either kind's status: ``previous`` without its conditions, at the owner's generation, then
    an invalid spec's conditions, or SpecValid before what ``summarize`` makes of a valid one."""
    fields = {key: value for key, value in previous.items() if key != "conditions"}
    fields["observedGeneration"] = owner.generation
    if isinstance(spec, SpecError):
        return fields, invalid_conditions(spec)
    fields, conditions = summarize(owner, spec, observed, fields)
    return fields, [Condition("SpecValid", TRUE, "SpecAccepted", ""), *conditions]


def run_fields(run: Run, *, phase_key: str, counts: Sequence[str]) -> dict[str, Any]:
    """What a status records of one finished run: its Job, phase (under ``phase_key``),
    backup id, start and completion times, the named ``counts`` of its result, and the failure
    reason and message; absent values left out. Shared by the BackupPolicy's ``lastRun`` and
    the Restore's status."""
    report = run.report
    found = report.counts if report else {}
    return without_none({
        "job": run.job, phase_key: run.phase,
        "backupId": report.backup_id if report else None,
        "startTime": run.started, "completionTime": run.finished,
        **{key: found.get(key) for key in counts},
        "reason": run.reason, "message": run.message,
    })  # fmt: skip


def without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    """A dict without its None values (status fields are omitted rather than null)."""
    return {key: value for key, value in values.items() if value is not None}
