"""BackupLocation -> its child: a CronJob running ``tidal backup sync`` over the store.

The sync only reads (read-only credentials suffice); its result (``listing``, see
``tidal_data.catalog`` and docs/operator.md) becomes the location's ``status.backups``,
replaced as a whole by each sync, so that backups deleted from the store disappear, as
Velero's backup sync deletes the Backup objects whose backup the store no longer holds
(vmware-tanzu/velero pkg/controller/backup_sync_controller.go at d30d389b, lines 110-147 list
the store and create what the cluster lacks, 313-342 ``deleteOrphanedBackups``, 248-251 record
``lastSyncedTime``). A Restore naming the location takes its store and encryption from here
(``resolve``). Pure; called by ``tidal_operator.reconciling`` and ``tidal_operator.handlers``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from tidal_operator.backups import _encryption_args
from tidal_operator.checks import SpecError, check_cron
from tidal_operator.config import OperatorConfig
from tidal_operator.crds import backuplocations as crd
from tidal_operator.pods import (
    Manifest,
    container,
    key_volumes,
    pod_template,
    store_args,
    store_env,
    utc_cron_job,
)
from tidal_operator.specs import (
    Encryption,
    ObjectStore,
    Owner,
    _check_name,
    _encryption,
    _store,
    _validated,
    owner_of,
)

COMPONENT: Final = "sync"
HISTORY_LIMIT: Final = 1
FLAGS: Final = {"complete": "c", "verified": "v", "partiallyFailed": "p"}


@dataclass(frozen=True)
class LocationSpec:
    store: ObjectStore
    encryption: Encryption
    schedule: str
    suspend: bool


def location_spec(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> LocationSpec:
    """Read a BackupLocation spec, or raise ``SpecError`` saying why it cannot be reconciled."""
    _check_name(owner_of(crd.KIND, meta), crd.MAX_NAME)
    value = _validated(crd.spec_schema, spec)
    check_cron(value["syncSchedule"], field="spec.syncSchedule")
    return LocationSpec(
        store=_store(value["store"]),
        encryption=_encryption(value["encryption"]),
        schedule=value["syncSchedule"],
        suspend=value["suspend"],
    )


def child_name(owner: Owner) -> str:
    return f"{owner.name}-{COMPONENT}"


def sync_args(spec: LocationSpec) -> list[str]:
    """``tidal backup sync ...`` arguments."""
    return ["backup", "sync", *store_args(spec.store), *_encryption_args(spec.encryption)]


def cron_job(owner: Owner, spec: LocationSpec, config: OperatorConfig) -> Manifest:
    mounts, volumes = key_volumes(spec.encryption)
    main = container(sync_args(spec), config=config, env=store_env(spec.store), mounts=mounts)
    template = pod_template(
        owner, COMPONENT, main, config=config, restart_policy="Never", volumes=volumes
    )
    job_spec = {"backoffLimit": 1, "activeDeadlineSeconds": 600, "template": template}
    return utc_cron_job(
        owner,
        child_name(owner),
        COMPONENT,
        job_spec,
        schedule=spec.schedule,
        suspend=spec.suspend,
        history_limit=HISTORY_LIMIT,
    )


def children(owner: Owner, spec: LocationSpec, config: OperatorConfig) -> list[Manifest]:
    return [cron_job(owner, spec, config)]


def backups_of(listing: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A sync's ``listing`` as ``status.backups`` entries (malformed entries are left out)."""
    found = []
    policies = listing.get("policies")
    for policy, entries in (policies if isinstance(policies, Mapping) else {}).items():
        for entry in entries if isinstance(entries, list) else ():
            if not (isinstance(entry, list) and len(entry) == 4 and isinstance(entry[0], str)):
                continue
            identifier, flags, events, size = entry
            found.append(
                {"policy": str(policy), "id": identifier}
                | {field: flag in str(flags) for field, flag in FLAGS.items()}
                | {"events": int(events) if isinstance(events, int) else 0}
                | {"bytes": int(size) if isinstance(size, int) else 0}
            )
    return found


def resolve(restore_spec: Mapping[str, Any], location: Mapping[str, Any] | None) -> dict[str, Any]:
    """A Restore's spec with ``source.location`` replaced by that BackupLocation's store and
    encryption; refuses a location that does not exist, and a backup id it has not listed.

    ``location`` is the BackupLocation object (None: not found)."""
    source = dict(restore_spec.get("source") or {})
    name = source.pop("location", None)
    if name is None:
        return dict(restore_spec)
    if location is None:
        raise SpecError("LocationNotFound", f"no BackupLocation {name} in this namespace")
    if "store" in source:
        raise SpecError("SchemaViolation", "spec.source: give either location or store, not both")
    spec = location.get("spec") or {}
    source["store"] = spec.get("store") or {}
    if "encryption" not in source and "encryption" in spec:
        source["encryption"] = spec["encryption"]
    listed = (location.get("status") or {}).get("backups")
    wanted = source.get("backupId")
    if not wanted:
        source["backupId"] = wanted = _newest_verified(str(name), source.get("policy"), listed)
    if isinstance(listed, list):
        known = {(b.get("policy"), b.get("id")) for b in listed if isinstance(b, Mapping)}
        if (source.get("policy"), wanted) not in known:
            raise SpecError(
                "BackupNotSynced",
                f"BackupLocation {name} lists no backup {wanted} of {source.get('policy')}"
                " (not synced yet, or deleted from the store)",
            )
    return dict(restore_spec) | {"source": source}


def _newest_verified(name: str, policy: object, listed: object) -> str:
    """The id of the newest complete, verified backup of ``policy`` the location lists (its
    listing is newest first). Naming it makes the restore only read the store: a restore left
    to choose would record verification results, which a location's read-only credentials
    refuse."""
    if not isinstance(listed, list):
        raise SpecError("BackupNotSynced", f"BackupLocation {name} has not listed its backups yet")
    for entry in listed:
        if not isinstance(entry, Mapping) or entry.get("policy") != policy:
            continue
        if entry.get("complete") and entry.get("verified") and not entry.get("partiallyFailed"):
            return str(entry["id"])
    raise SpecError(
        "NoVerifiedBackup",
        f"BackupLocation {name} lists no complete, verified backup of {policy}: name one with"
        " spec.source.backupId",
    )
