"""The operator's Prometheus export: each BackupPolicy's and DLQArchive's run results.

``tidal_operator.handlers.Operator`` owns one `Results`: it registers its `Source` with
`tidal.observability` (``service="tidal-operator"``, its families made by
`tidal_operator.families.collect`), calls `Results.update` after every reconcile
with the status it just computed and `Results.forget` on delete, and starts `serve` from its
kopf startup handler. The pure part is `track` (a resource's plan, body and status, plus what was
seen before -> its `RunResults`), `max_age` and `cron_interval`; the families themselves
(``tidal_backup_*``, ``tidal_restore_*``, ``tidal_dlq_archive_*``) by `tidal_operator.families`.
A DLQArchive's archived dead letters (``tidal_dlq_archive_events_total``) are not exported here:
its drainer pods count and serve them (``tidal dlq drain``), so its `RunResults.events` is None.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Final, Protocol

from prometheus_client.core import Metric

from tidal.observability import Source, listen
from tidal_operator import families
from tidal_operator.checks import SpecError, cron_fields, seconds
from tidal_operator.crds import backuppolicies, restores
from tidal_operator.families import RunKind, RunResults
from tidal_operator.reconciling import Plan
from tidal_operator.results import parse_time
from tidal_operator.specs import BackupPolicySpec, DLQArchiveSpec

log = logging.getLogger(__name__)

SERVICE: Final = "tidal-operator"
TRANSPORT: Final = "operator"
SCHEDULED_GRACE: Final = 2 * 3600
"""Seconds a scheduled run may end after its tick: its own duration, Job retries, a late start."""
CONTINUOUS_GRACE: Final = 15 * 60
"""Seconds on top of a continuous archiver's flush interval: resyncs, an archiver restart."""
MACRO_CRON: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
HORIZON: Final = (date(2024, 1, 1), date(2033, 1, 1))
"""Days searched for firings: nine years, three of them leap years (29 February schedules)."""
Key = tuple[RunKind, str, str]


# -- cron -> interval (pure) ---------------------------------------------------------------


def _days(
    dom: tuple[set[int], bool], months: set[int], dow: tuple[set[int], bool]
) -> Iterator[date]:
    """Days of `HORIZON` the day fields allow (robfig/cron spec.go dayMatches: both day fields
    when either is a star, else either)."""
    both = dom[1] or dow[1]
    day, end = HORIZON
    while day < end:
        by_date, by_weekday = day.day in dom[0], (day.isoweekday() % 7) in dow[0]
        if day.month in months and ((by_date and by_weekday) if both else by_date or by_weekday):
            yield day
        day += timedelta(days=1)


def cron_interval(expression: str) -> int | None:
    """The longest gap, in seconds, between two consecutive firings of a (UTC) cron schedule;
    None when it never fires."""
    fields = cron_fields(MACRO_CRON.get(expression.strip(), expression).split())
    minutes = sorted(hour * 60 + minute for hour in fields[1][0] for minute in fields[0][0])
    days = [day.toordinal() for day in _days(fields[2], fields[3][0], fields[4])]
    if not minutes or not days:
        return None
    gaps = [b - a for a, b in itertools.pairwise(minutes)]
    gaps += [(b - a) * 1440 + minutes[0] - minutes[-1] for a, b in itertools.pairwise(days)]
    return max(gaps, default=1440 * 366) * 60


def max_age(spec: object) -> float | None:
    """How old a last success may be: the schedule's longest interval plus `SCHEDULED_GRACE`, or
    a continuous archiver's flush interval plus `CONTINUOUS_GRACE`; None when suspended or
    invalid (no run is due)."""
    if isinstance(spec, SpecError) or getattr(spec, "suspend", True):
        return None
    if isinstance(spec, BackupPolicySpec) and spec.continuous:
        flush = seconds(spec.flush_interval, field="spec.continuous.flushInterval")
        return float(flush + CONTINUOUS_GRACE)
    if isinstance(spec, BackupPolicySpec):
        schedule = spec.schedule
    elif isinstance(spec, DLQArchiveSpec):
        schedule = spec.prune_schedule
    else:
        return None
    interval = cron_interval(schedule)
    return None if interval is None else float(interval + SCHEDULED_GRACE)


# -- status -> RunResults (pure) -----------------------------------------------------------


@dataclass(frozen=True)
class Tracked:
    """One resource's exported results and the marks telling a new run from one already seen."""

    results: RunResults
    last_failure: str | None = None
    last_run: tuple[str, str] | None = None
    """(job, completionTime) of the newest run seen (BackupPolicy)."""


def _stamp(value: Any) -> float | None:
    moment = parse_time(value) if isinstance(value, str) else None
    return moment.timestamp() if moment else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _condition(status: Mapping[str, Any], type: str) -> str | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == type:
            return str(condition.get("status"))
    return None


def _continuous(spec: object) -> bool:
    return isinstance(spec, BackupPolicySpec) and spec.continuous


def _archiving(status: Mapping[str, Any]) -> bool:
    """A continuous archiver seen available and not crashing (its runs never finish)."""
    return _condition(status, "Archiving") == "True" and _condition(status, "Degraded") != "True"


def _last_success(
    desired: Plan[Any],
    body: Mapping[str, Any],
    status: Mapping[str, Any],
    previous: Tracked | None,
    now: datetime,
) -> float | None:
    """The newest success; a continuous archiver succeeds whenever it is seen healthy. While there
    is none, the resource's creation time, so that a first run that never succeeds goes stale."""
    found = [_stamp(status.get("lastSuccessTime"))]
    if _continuous(desired.spec):
        found.append(previous.results.last_success if previous else None)
        found.append(now.timestamp() if _archiving(status) else None)
    known = [stamp for stamp in found if stamp is not None]
    if known:
        return max(known)
    return _stamp(body.get("metadata", {}).get("creationTimestamp"))


def _backup(
    results: RunResults, status: Mapping[str, Any], previous: Tracked | None
) -> tuple[RunResults, tuple[str, str] | None]:
    """Counters from the status; events and the last size from a newly seen successful run."""
    last = status.get("lastRun") or {}
    mark = (str(last.get("job")), str(last.get("completionTime"))) if last else None
    fresh = previous is not None and mark is not None and mark != previous.last_run
    succeeded = last.get("outcome") == "Succeeded"
    verified = status.get("lastVerifiedBackup") or {}
    size = _int(last.get("bytes")) if succeeded else None
    if size is None:
        size = previous.results.last_size_bytes if previous else _int(verified.get("bytes"))
    events = (previous.results.events or 0) if previous else 0
    if fresh and succeeded:
        events += _int(last.get("events")) or 0
    return replace(
        results,
        succeeded=_int(status.get("succeededRuns")) or 0,
        failed=_int(status.get("failedRuns")) or 0,
        partially_failed=_int(status.get("partiallyFailedRuns")) or 0,
        restore_test_last_success=_restore_tested(status),
        last_size_bytes=size,
        events=events,
    ), mark


def _restore_tested(status: Mapping[str, Any]) -> float | None:
    """When the newest restore test restored its backup identical (None: no such test)."""
    last = status.get("lastRestoreTest") or {}
    return _stamp(last.get("completionTime")) if last.get("outcome") == "Succeeded" else None


def _tick(previous: Tracked | None, before: object, after: object) -> int:
    """1 when a newer run finished since ``previous`` was seen (its time changed), else 0."""
    return int(previous is not None and after is not None and after != before)


def _archive(
    results: RunResults, status: Mapping[str, Any], previous: Tracked | None
) -> RunResults:
    """DLQArchive statuses keep no run counters: count the success / failure times that move.
    No events: the drainers export the dead letters they archived themselves."""
    before = previous.results if previous else None
    success = _stamp(status.get("lastSuccessTime"))
    failure = status.get("lastFailureTime")
    return replace(
        results,
        events=None,
        succeeded=(before.succeeded if before else 0)
        + _tick(previous, before.last_success if before else None, success),
        failed=(before.failed if before else 0)
        + _tick(previous, previous.last_failure if previous else None, failure),
    )


def kind_of(desired: Plan[Any]) -> RunKind:
    kinds: dict[str, RunKind] = {backuppolicies.KIND: "backup", restores.KIND: "restore"}
    return kinds.get(desired.kind.kind, "dlq_archive")


def track(
    desired: Plan[Any],
    body: Mapping[str, Any],
    status: Mapping[str, Any],
    previous: Tracked | None,
    *,
    now: datetime,
) -> Tracked:
    """A resource's results from the status its reconcile just computed.

    BackupPolicy: runs from ``succeededRuns`` / ``failedRuns``, size and events from ``lastRun``
    (events count the successful runs seen finishing by this process). DLQArchive: a run is
    counted when ``lastSuccessTime`` / ``lastFailureTime`` moves (never at first sight, so an
    operator restart does not count old runs again). An invalid spec keeps the last ``max_age``.
    """
    owner = desired.owner
    age = max_age(desired.spec) if desired.valid else None
    results = RunResults(
        kind=kind_of(desired),
        name=owner.name,
        namespace=owner.namespace,
        last_success=_last_success(desired, body, status, previous, now),
        max_age=age if desired.valid or previous is None else previous.results.max_age,
        stored_bytes=_int(status.get("storedBytes")),
    )
    if results.kind == "backup":
        results, mark = _backup(results, status, previous)
        return Tracked(results, last_run=mark)
    counted = _archive(results, status, previous)
    if results.kind == "restore":  # its events: the run's, once seen succeeding
        before = previous.results if previous else None
        fresh = _tick(previous, before.last_success if before else None, counted.last_success)
        events = (before.events or 0) if before else 0
        counted = replace(counted, events=events + (_int(status.get("events")) or 0) * fresh)
    return Tracked(counted, last_failure=status.get("lastFailureTime"))


# -- the live source and /metrics ----------------------------------------------------------


def key_of(desired: Plan[Any]) -> Key:
    return (kind_of(desired), desired.owner.namespace, desired.owner.name)


class Results:
    """The operator's exported results: one `RunResults` per resource in one `Source`."""

    def __init__(self) -> None:
        self.runs: dict[Key, RunResults] = {}
        """Keyed by (kind, namespace, name), read at scrape time."""
        self.source = Source(service=SERVICE, transport=TRANSPORT, families=self.families)
        self._tracked: dict[Key, Tracked] = {}

    def families(self) -> list[Metric]:
        """The families of every resource tracked now (called at scrape time)."""
        return list(families.collect(SERVICE, list(self.runs.values())))

    def update(
        self, desired: Plan[Any], body: Mapping[str, Any], status: Mapping[str, Any], now: datetime
    ) -> RunResults:
        """Re-read one resource's status into its results (called after every reconcile)."""
        key = key_of(desired)
        tracked = track(desired, body, status, self._tracked.get(key), now=now)
        self._tracked[key] = tracked
        self.runs[key] = tracked.results
        return tracked.results

    def forget(self, desired: Plan[Any]) -> None:
        """Stop exporting a deleted resource."""
        self._tracked.pop(key_of(desired), None)
        self.runs.pop(key_of(desired), None)


class Server(Protocol):
    """``/metrics`` of this process, served on a daemon thread (`tidal.observability.listen`)."""

    def close(self) -> None: ...


def serve(port: int, *, host: str = "0.0.0.0") -> Server | None:
    """Serve every registered source at ``http://host:port/metrics``; None when ``port`` is 0,
    ``prometheus_client`` is missing or the port is taken (the operator runs on, saying so)."""
    if not port:
        return None
    try:
        server = listen(port, host=host)
    except ImportError:
        log.warning("no /metrics: prometheus_client is not installed (tidal-operator needs it)")
        return None
    except OSError as exc:
        log.error("no /metrics: cannot listen on %s:%d (%s)", host, port, exc)
        return None
    log.info("metrics on http://%s:%d/metrics", host, port)
    return server
