"""The pure reconcile: a custom resource's body -> its children (plain dicts) and its status.

``plan(kind, body, config)`` reads and checks the spec and builds the desired children;
``obsolete(plan, existing)`` names the children to delete; ``summarize(plan, observed, ...)``
computes the status from what the handler observed. No I/O here: ``tidal_operator.handlers``
does the reading and writing around these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Generic, TypeVar

from tidal_operator import (
    backup_status,
    backups,
    dlq_status,
    dlqs,
    location_status,
    locations,
    restore_status,
    restores,
    specs,
)
from tidal_operator.checks import SpecError
from tidal_operator.conditions import Condition, merged
from tidal_operator.config import OperatorConfig
from tidal_operator.crds import backuplocations, backuppolicies, dlqarchives
from tidal_operator.crds import restores as restore_crd
from tidal_operator.pods import OWNER_LABELS, Manifest
from tidal_operator.specs import Owner
from tidal_operator.summarizing import Observed, rfc3339

SpecT = TypeVar("SpecT")


@dataclass(frozen=True)
class Kind(Generic[SpecT]):
    """How one custom resource kind is read, expanded into children and summarized."""

    kind: str
    plural: str
    parse: Callable[[Mapping[str, Any], Mapping[str, Any]], SpecT]
    children: Callable[[Owner, SpecT, OperatorConfig], list[Manifest]]
    status: Callable[
        [Owner, SpecT | SpecError, Observed, Mapping[str, Any]],
        tuple[dict[str, Any], list[Condition]],
    ]
    managed: tuple[str, ...]
    """Child kinds the operator creates itself (deleted when no longer desired)."""
    settle: Callable[[SpecT, Mapping[str, Any]], SpecT] | None = None
    """Adjusts a read spec to what the status records as done (a finished re-drive run)."""
    reference: Callable[[Mapping[str, Any]], tuple[str, str] | None] | None = None
    """(kind, name) of another object the spec names (a Restore's BackupLocation)."""
    resolve: (
        Callable[
            [Mapping[str, Any], Mapping[str, Any] | None, Mapping[str, Any]], Mapping[str, Any]
        ]
        | None
    ) = None
    """The spec with that object's settings filled in: (spec, object or None, status)."""

    @property
    def label(self) -> str:
        """Label carrying the owner's name on children, Jobs and pods."""
        return OWNER_LABELS[self.kind]


BACKUP_POLICY: Final = Kind(
    kind=backuppolicies.KIND,
    plural=backuppolicies.PLURAL,
    parse=specs.backup_policy,
    children=backups.children,
    status=backup_status.status,
    managed=("CronJob", "Deployment"),
)
DLQ_ARCHIVE: Final = Kind(
    kind=dlqarchives.KIND,
    plural=dlqarchives.PLURAL,
    parse=specs.dlq_archive,
    children=dlqs.children,
    status=dlq_status.status,
    managed=("Deployment", "ScaledObject", "CronJob", "Job"),
    settle=dlq_status.settled,
)
RESTORE: Final = Kind(
    kind=restore_crd.KIND,
    plural=restore_crd.PLURAL,
    parse=restores.restore_spec,
    children=restores.children,
    status=restore_status.status,
    managed=("Job",),
    settle=restores.settled,
    reference=restores.reference,
    resolve=restores.resolve,
)
BACKUP_LOCATION: Final = Kind(
    kind=backuplocations.KIND,
    plural=backuplocations.PLURAL,
    parse=locations.location_spec,
    children=locations.children,
    status=location_status.status,
    managed=("CronJob",),
)
KINDS: Final = (BACKUP_POLICY, DLQ_ARCHIVE, RESTORE, BACKUP_LOCATION)
"""Every kind the operator reconciles."""


@dataclass(frozen=True)
class Plan(Generic[SpecT]):
    """The desired state of one resource; ``spec`` is the refusal when it is invalid."""

    kind: Kind[SpecT]
    owner: Owner
    spec: SpecT | SpecError
    children: tuple[Manifest, ...]

    @property
    def valid(self) -> bool:
        return not isinstance(self.spec, SpecError)


def plan(
    kind: Kind[SpecT],
    body: Mapping[str, Any],
    config: OperatorConfig,
    referenced: Mapping[str, Any] | None = None,
) -> Plan[SpecT]:
    """Read the spec (with ``referenced``, the object it names, filled in) and build the
    children; an invalid spec gives no children and its reason."""
    meta = body.get("metadata", {})
    owner = specs.owner_of(kind.kind, meta)
    try:
        raw = body.get("spec") or {}
        if kind.resolve is not None:
            raw = kind.resolve(raw, referenced, body.get("status") or {})
        spec = kind.parse(meta, raw)
    except SpecError as error:
        return Plan(kind, owner, error, ())
    if kind.settle is not None:
        spec = kind.settle(spec, body.get("status") or {})
    return Plan(kind, owner, spec, tuple(kind.children(owner, spec, config)))


def obsolete(desired: Plan[Any], existing: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Existing children of managed kinds that the plan no longer wants (none if it is invalid)."""
    if not desired.valid:
        return []
    wanted = {(child["kind"], child["metadata"]["name"]) for child in desired.children}
    return [
        child
        for child in existing
        if child.get("kind") in desired.kind.managed
        and (child.get("kind"), child.get("metadata", {}).get("name")) not in wanted
    ]


def summarize(
    desired: Plan[Any],
    observed: Observed,
    previous: Mapping[str, Any],
    *,
    now: datetime,
) -> dict[str, Any]:
    """The whole new status: fields, then conditions merged with the previous ones."""
    fields, conditions = desired.kind.status(desired.owner, desired.spec, observed, previous)
    fields["conditions"] = merged(
        previous.get("conditions", []),
        conditions,
        now=rfc3339(now),
        generation=desired.owner.generation,
    )
    return fields
