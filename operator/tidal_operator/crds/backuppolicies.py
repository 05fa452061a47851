"""The ``BackupPolicy`` CustomResourceDefinition: archive topics, replicate, keep, verify.

A BackupPolicy selects topics of one Kafka cluster and has them archived into an object store in
another cluster or region, daily by default (02:00 UTC) or continuously. The operator turns it
into a CronJob (or a Deployment) running ``tidal backup run``; see ``tidal_operator.backups``.
"""

from __future__ import annotations

from typing import Any, Final

from tidal_operator.crds.common import (
    age_column,
    common_status,
    cron_schedule,
    definition,
    duration,
    kafka_cluster,
    kafka_name,
    object_store,
    printer_column,
    ready_column,
    retention,
    secret_key_ref,
)
from tidal_operator.crds.openapi import Schema, array, boolean, integer, obj, string

KIND: Final = "BackupPolicy"
PLURAL: Final = "backuppolicies"
MAX_NAME: Final = 45  # "<name>-backup" plus the CronJob's 11-character job suffix <= 63
DEFAULT_SCHEDULE: Final = "0 2 * * *"
DEFAULT_MAX_AGE: Final = "35d"


def _sources() -> Schema:
    pattern = string(
        "A regular expression (RE2) matched against whole topic names.", max_length=256
    )
    return obj(
        "Which topics of which cluster to back up.",
        {
            "kafka": kafka_cluster("The cluster the topics live in."),
            "topics": array(
                kafka_name("A topic name."),
                "Topics backed up by name.",
                max_items=256,
                list_type="set",
            ),
            "include": array(
                pattern, "Also back up every topic matching one of these.", max_items=32
            ),
            "exclude": array(pattern, "Never back up a topic matching one of these.", max_items=32),
            "consumerGroups": array(
                kafka_name("A consumer group id."),
                "Consumer groups whose committed offsets are backed up with every run; a restore"
                " translates them into the target so each group resumes where it was.",
                max_items=256,
                list_type="set",
            ),
        },
        required=("kafka",),
        rules=(
            (
                "(has(self.topics) && size(self.topics) > 0) || "
                "(has(self.include) && size(self.include) > 0)",
                "select at least one topic: list topics or give include patterns",
            ),
        ),
    )


def _destination() -> Schema:
    schema = object_store("Where the backups are written: another cluster's or region's store.")
    schema["properties"]["restoreTarget"] = obj(
        "Kafka cluster a disaster-recovery restore writes into (recorded with every backup).",
        {
            "kafka": kafka_cluster("The cluster restored into."),
            "topicPrefix": string(
                "Prefix put before every restored topic's name.",
                pattern=r"^[a-zA-Z0-9._-]*$",
                max_length=64,
                default="",
            ),
        },
        required=("kafka",),
    )
    schema["properties"]["objectLock"] = obj(
        "S3 Object Lock on every object written: the backup pod's own credentials cannot"
        " destroy a backup before its retention ends (the bucket must be created with Object"
        " Lock enabled).",
        {
            "mode": string(
                "Compliance: nobody can shorten it. Governance: only with the bypass permission.",
                enum=("Governance", "Compliance"),
            ),
            "retentionDays": integer(
                "Days each object stays locked (at least the retention's maxAge, usually).",
                minimum=1,
                maximum=36_500,
                default=35,
            ),
        },
        required=("mode",),
    )
    return schema


def encryption_schema() -> Schema:
    """How backups are encrypted (a Restore reads them the same way)."""
    return obj(
        "How backups are encrypted at rest.",
        {
            "mode": string(
                "ServerSide: the store encrypts (SSE). ClientSide: tidal encrypts before upload "
                "with a key kept in a Secret (losing the Secret makes the backups unreadable).",
                enum=("ServerSide", "ClientSide"),
                default="ServerSide",
            ),
            "serverSide": obj(
                "Server-side encryption settings.",
                {
                    "algorithm": string(
                        "SSE algorithm.", enum=("AES256", "aws:kms"), default="AES256"
                    ),
                    "kmsKeyId": string("KMS key id or ARN for aws:kms.", max_length=2048),
                },
                default={},
                rules=(
                    (
                        "self.algorithm != 'aws:kms' || has(self.kmsKeyId)",
                        "kmsKeyId is required when the algorithm is aws:kms",
                    ),
                ),
            ),
            "clientSide": obj(
                "Client-side encryption settings.",
                {
                    "keySecretRef": secret_key_ref(
                        "Secret key holding the base64 of a 32-byte AES-256-GCM key (the one"
                        " that writes).",
                        default_key="key",
                    ),
                    "previousKeySecretRefs": array(
                        secret_key_ref(
                            "An earlier key, kept to read what it encrypted.", default_key="key"
                        ),
                        "Keys rotated out: every object names the key it was written with, so"
                        " backups written before a rotation stay readable while these are here.",
                        max_items=16,
                    ),
                },
                required=("keySecretRef",),
            ),
        },
        default={},
        rules=(
            (
                "self.mode != 'ClientSide' || has(self.clientSide)",
                "clientSide.keySecretRef is required when mode is ClientSide",
            ),
        ),
    )


def _restore_test() -> Schema:
    return obj(
        "A scheduled proof that the backups restore: the newest backup that verifies is"
        " restored into scratch topics of this cluster, compared with the backup record for"
        " record (count and sha256 per partition), and the scratch topics are deleted.",
        {
            "schedule": cron_schedule("Cron schedule, evaluated in UTC.", default="0 4 * * 0"),
            "kafka": kafka_cluster(
                "The cluster the scratch topics go to (its own credentials, never merged)."
            ),
            "scratchTopicPrefix": string(
                "Scratch topics are <prefix><run>.<topic>.",
                pattern=r"^[a-zA-Z0-9._-]+$",
                max_length=64,
                default="tidal-restore-test.",
            ),
            "replicationFactor": integer(
                "Replication factor of the scratch topics.", minimum=1, maximum=7, default=1
            ),
        },
        required=("kafka",),
    )


def _job() -> Schema:
    return obj(
        "How each backup run is executed.",
        {
            "backoffLimit": integer("Retries of a failed run.", minimum=0, maximum=10, default=2),
            "activeDeadlineSeconds": integer(
                "A run is stopped after this long.", minimum=60, maximum=604_800, default=21_600
            ),
            "historyLimit": integer(
                "Finished runs kept (each kind) for kubectl and for the status.",
                minimum=1,
                maximum=20,
                default=3,
            ),
        },
        default={},
    )


def spec_schema() -> Schema:
    """The ``spec`` of a BackupPolicy."""
    return obj(
        "What to back up, when, where to, for how long, and how it is encrypted.",
        {
            "sources": _sources(),
            "mode": string(
                "Scheduled: a run per schedule tick. Continuous: an always-on archiver "
                "(recovery point within the flush interval).",
                enum=("Scheduled", "Continuous"),
                default="Scheduled",
            ),
            "schedule": cron_schedule("Cron schedule, evaluated in UTC.", default=DEFAULT_SCHEDULE),
            "continuous": obj(
                "Continuous-mode settings.",
                {
                    "flushInterval": duration(
                        "Longest time an event waits before it is uploaded (the RPO bound).",
                        default="1m",
                    )
                },
                default={},
            ),
            "destination": _destination(),
            "retention": retention(
                "Which backups are kept.", max_age=DEFAULT_MAX_AGE, max_count=True
            ),
            "encryption": encryption_schema(),
            "job": _job(),
            "restoreTest": _restore_test(),
            "suspend": boolean("Stop starting new runs; existing backups are kept.", default=False),
        },
        required=("sources", "destination"),
    )


def _run() -> Schema:
    return obj(
        "The newest finished run.",
        {
            "job": string("Name of the Job."),
            "outcome": string(
                "Succeeded, PartiallyFailed (done, but a selected topic was missing or a"
                " partition could not be read to its end) or Failed.",
                enum=("Succeeded", "PartiallyFailed", "Failed"),
            ),
            "missingTopics": array(
                string("A topic name."),
                "Selected topics the source did not have (the run PartiallyFailed).",
            ),
            "unreadablePartitions": array(
                obj(
                    "Offsets of one partition the run could not read.",
                    {
                        "topic": string("The topic."),
                        "partition": integer("The partition.", minimum=0),
                        "from": integer("First offset missing.", minimum=0),
                        "to": integer("Last offset missing.", minimum=0),
                        "reason": string(
                            "Why: OffsetOutOfRange (deleted by the source's retention before"
                            " it was read), LogTruncated, TopicDeleted, TopicAuthorizationFailed"
                            " or ReadTimeout."
                        ),
                    },
                ),
                "Partitions the run could not read to their end (the run PartiallyFailed;"
                " retention keeps the newest backup holding each whole). At most 10 listed.",
            ),
            "backupId": string("Identifier of the backup the run wrote."),
            "startTime": string("When the run started.", format="date-time"),
            "completionTime": string("When the run finished.", format="date-time"),
            "events": integer("Events archived.", minimum=0),
            "objects": integer("Objects written.", minimum=0),
            "bytes": integer("Bytes written.", minimum=0),
            "verified": boolean("Every checksum was verified at the destination."),
            "reason": string("Failure reason, when it failed."),
            "message": string("Failure message, when it failed.", max_length=4096),
        },
    )


def _verified() -> Schema:
    return obj(
        "The newest verified backup (retention never deletes it).",
        {
            "backupId": string("Identifier of the backup."),
            "completionTime": string("When it was written.", format="date-time"),
            "events": integer("Events in it.", minimum=0),
            "bytes": integer("Bytes in it.", minimum=0),
        },
    )


def status_schema() -> dict[str, Schema]:
    """The ``status`` fields of a BackupPolicy."""
    return common_status() | {
        "lastScheduleTime": string("When the CronJob last started a run.", format="date-time"),
        "activeRuns": integer("Runs in progress.", minimum=0),
        "succeededRuns": integer("Runs that succeeded, counted by the operator.", minimum=0),
        "failedRuns": integer("Runs that failed, counted by the operator.", minimum=0),
        "partiallyFailedRuns": integer(
            "Runs that backed up only part of the selection (PartiallyFailed).", minimum=0
        ),
        "lastRun": _run(),
        "lastRestoreTest": obj(
            "The newest finished restore test.",
            {
                "job": string("Name of the Job."),
                "outcome": string("Succeeded or Failed.", enum=("Succeeded", "Failed")),
                "backupId": string("The backup it restored."),
                "completionTime": string("When it finished.", format="date-time"),
                "events": integer("Events restored and compared.", minimum=0),
                "reason": string("Failure reason, when it failed."),
                "message": string("Failure message, when it failed.", max_length=4096),
            },
        ),
        "lastVerifiedBackup": _verified(),
        "storedBackups": integer("Backups kept at the destination after retention.", minimum=0),
        "storedBytes": integer("Bytes kept at the destination after retention.", minimum=0),
    }


def crd() -> dict[str, Any]:
    """The BackupPolicy CustomResourceDefinition."""
    return definition(
        kind=KIND,
        plural=PLURAL,
        short_names=("bp",),
        description="Archives Kafka topics into another cluster's or region's object store.",
        spec=spec_schema(),
        status=status_schema(),
        columns=(
            printer_column("Mode", ".spec.mode"),
            printer_column("Schedule", ".spec.schedule"),
            printer_column("Suspend", ".spec.suspend", type="boolean"),
            ready_column(),
            printer_column("Last Success", ".status.lastSuccessTime", type="date"),
            printer_column("Backups", ".status.storedBackups", type="integer"),
            printer_column("Bytes", ".status.storedBytes", type="integer", priority=1),
            age_column(),
        ),
        max_name=MAX_NAME,
    )
