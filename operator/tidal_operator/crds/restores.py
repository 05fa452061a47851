"""The ``Restore`` CustomResourceDefinition: restore a BackupPolicy's backup into a cluster.

A Restore lives in the cluster restored into (cluster B): it names the store the backups are in
(the BackupPolicy's destination, shared by both clusters), or a BackupLocation that lists that
store's backups in this cluster (Velero's BackupStorageLocation),
the policy whose backups to take (``<namespace>/<name>`` in the cluster that wrote them), and
the target Kafka cluster. The operator runs it as one Job (``tidal restore``, idempotent against
the target through its run id, the Restore's uid) and reports phase, counts and conditions; see
``tidal_operator.restores``.
"""

from __future__ import annotations

from typing import Any, Final

from tidal_operator.crds.backuppolicies import encryption_schema
from tidal_operator.crds.common import (
    age_column,
    common_status,
    definition,
    kafka_cluster,
    kafka_name,
    object_store,
    printer_column,
    ready_column,
)
from tidal_operator.crds.openapi import Schema, array, boolean, integer, obj, string

KIND: Final = "Restore"
PLURAL: Final = "restores"
MAX_NAME: Final = 55  # "<name>-restore" <= 63
PHASES: Final = ("Pending", "Running", "Succeeded", "PartiallyFailed", "Failed")


def spec_schema() -> Schema:
    """The ``spec`` of a Restore."""
    return obj(
        "Which backup to restore, from which store, into which cluster.",
        {
            "source": obj(
                "Where the backups are and whose to take.",
                {
                    "location": string(
                        "A BackupLocation in this namespace: its store and encryption are used"
                        " (instead of store), and a backupId must be one it has listed.",
                        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                        max_length=63,
                    ),
                    "store": object_store(
                        "The store the BackupPolicy writes into (or give a location)."
                    ),
                    "policy": string(
                        "<namespace>/<name> of the BackupPolicy whose backups to take (as it"
                        " is known in the cluster that wrote them).",
                        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$",
                    ),
                    "backupId": string(
                        "One backup; default: the newest that verifies.",
                        pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]*$",
                        max_length=128,
                    ),
                    "encryption": encryption_schema(),
                },
                required=("policy",),
            ),
            "target": obj(
                "The cluster restored into.",
                {
                    "kafka": kafka_cluster("The cluster restored into (its own credentials)."),
                    "topicPrefix": string(
                        "Prefix put before every restored topic's name.",
                        pattern=r"^[a-zA-Z0-9._-]*$",
                        max_length=64,
                        default="",
                    ),
                    "topics": array(
                        kafka_name("A source topic."), "Only these topics.", max_items=256
                    ),
                    "repartition": string(
                        "ByKey: a target topic may have another partition count.",
                        enum=("None", "ByKey"),
                        default="None",
                    ),
                    "timestamps": string(
                        "Now: records get the restore time (the original kept in a header).",
                        enum=("Original", "Now"),
                        default="Original",
                    ),
                    "allowNonEmpty": boolean(
                        "Restore into topics holding other records.", default=False
                    ),
                },
                required=("kafka",),
            ),
            "rateLimit": integer("Events per second (0: no limit).", minimum=0, default=0),
            "activeDeadlineSeconds": integer(
                "Longest a restore may run.", minimum=60, default=21_600
            ),
        },
        required=("source", "target"),
    )


def status_schema() -> dict[str, Schema]:
    """The ``status`` fields of a Restore."""
    return common_status() | {
        "phase": string("Where the restore is.", enum=PHASES),
        "runId": string("The run id marked on every restored record."),
        "job": string("Name of the Job."),
        "backupId": string("The backup restored."),
        "events": integer("Events published by the run.", minimum=0),
        "present": integer("Events found in the target already (not sent again).", minimum=0),
        "skipped": integer("Events not selected.", minimum=0),
        "groupOffsets": integer("Consumer-group offsets translated and committed.", minimum=0),
        "startTime": string("When the Job started.", format="date-time"),
        "completionTime": string("When it finished.", format="date-time"),
        "reason": string("Failure reason, when it failed."),
        "message": string("Failure message, when it failed.", max_length=4096),
    }


def crd() -> dict[str, Any]:
    """The Restore CustomResourceDefinition."""
    return definition(
        kind=KIND,
        plural=PLURAL,
        short_names=("rst",),
        description="Restores a BackupPolicy's backup from a shared store into this cluster.",
        spec=spec_schema(),
        status=status_schema(),
        columns=(
            printer_column("Policy", ".spec.source.policy"),
            printer_column("Phase", ".status.phase"),
            ready_column(),
            printer_column("Backup", ".status.backupId"),
            printer_column("Events", ".status.events", type="integer"),
            age_column(),
        ),
        max_name=MAX_NAME,
    )
