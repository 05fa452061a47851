"""The ``BackupLocation`` CustomResourceDefinition: a store of backups, known in this cluster.

Velero's BackupStorageLocation for tidal: it names a bucket and prefix with credentials
(read-only ones suffice) that BackupPolicies of another cluster write into. The operator runs a
sync on a schedule (a CronJob running ``tidal backup sync``) and lists the store's backups in
the status, so that a Restore names the location and a backup without this cluster ever having
had the BackupPolicy (vmware-tanzu/velero pkg/controller/backup_sync_controller.go: the sync
lists the store, creates what the cluster lacks, deletes what the store no longer holds); see
``tidal_operator.locations``.
"""

from __future__ import annotations

from typing import Any, Final

from tidal_operator.crds.backuppolicies import encryption_schema
from tidal_operator.crds.common import (
    age_column,
    common_status,
    cron_schedule,
    definition,
    object_store,
    printer_column,
    ready_column,
)
from tidal_operator.crds.openapi import Schema, array, boolean, integer, obj, string

KIND: Final = "BackupLocation"
PLURAL: Final = "backuplocations"
MAX_NAME: Final = 52  # "<name>-sync" plus the CronJob's 11-character Job suffix <= 63 + pods


def spec_schema() -> Schema:
    """The ``spec`` of a BackupLocation."""
    return obj(
        "A store of backups written elsewhere, synced into this cluster's view.",
        {
            "store": object_store(
                "The bucket and prefix the BackupPolicies write into; read-only credentials"
                " suffice."
            ),
            "encryption": encryption_schema(),
            "syncSchedule": cron_schedule(
                "When the store is listed again (UTC).", default="*/5 * * * *"
            ),
            "suspend": boolean("Stop syncing; the listed backups stay.", default=False),
        },
        required=("store",),
    )


def _backup() -> Schema:
    return obj(
        "One backup in the store.",
        {
            "policy": string("<namespace>/<name> of the BackupPolicy that wrote it."),
            "id": string("Its identifier (a Restore's spec.source.backupId)."),
            "complete": boolean("Its run finished."),
            "verified": boolean("Its checksums were verified."),
            "partiallyFailed": boolean("Topics were missing or offsets unreadable."),
            "events": integer("Events in it.", minimum=0),
            "bytes": integer("Bytes stored.", minimum=0),
        },
    )


def status_schema() -> dict[str, Schema]:
    """The ``status`` fields of a BackupLocation."""
    return common_status() | {
        "lastSyncedTime": string("When the store was last listed.", format="date-time"),
        "lastSyncAttempt": string(
            "When the last sync Job finished, listed or failed.", format="date-time"
        ),
        "storedBackups": integer("Backups in the store at the last sync.", minimum=0),
        "unreadableBackups": integer(
            "Manifests the sync could not read (a wrong key, a damaged object).", minimum=0
        ),
        "backups": array(
            _backup(),
            "The store's backups at the last sync, newest first per policy (as many as the"
            " sync's result holds: listedBackups < storedBackups says some were left out).",
        ),
        "listedBackups": integer("Backups listed in status.backups.", minimum=0),
        "reason": string("Why the last sync failed (empty once one succeeds)."),
        "message": string("The last sync's failure message.", max_length=4096),
    }


def crd() -> dict[str, Any]:
    """The BackupLocation CustomResourceDefinition."""
    return definition(
        kind=KIND,
        plural=PLURAL,
        short_names=("bl",),
        description="A store of backups (written by another cluster's BackupPolicies) to restore"
        " from.",
        spec=spec_schema(),
        status=status_schema(),
        columns=(
            printer_column("Bucket", ".spec.store.bucket"),
            ready_column(),
            printer_column("Backups", ".status.storedBackups", type="integer"),
            printer_column("Synced", ".status.lastSyncedTime", type="date"),
            age_column(),
        ),
        max_name=MAX_NAME,
    )
