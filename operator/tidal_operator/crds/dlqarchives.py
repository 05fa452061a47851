"""The ``DLQArchive`` CustomResourceDefinition: drain dead-letter topics into an object store.

A DLQArchive drains one or more dead-letter topics into a bucket, partitioned by time and event
type, keeps them 14 days by default, and re-drives selected dead letters on request. The operator
turns it into a Deployment scaled on consumer-group lag by a KEDA ScaledObject (to zero), a
retention CronJob and one Job per re-drive request; see ``tidal_operator.dlqs``.
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
)
from tidal_operator.crds.openapi import DNS_SUBDOMAIN, Schema, array, boolean, integer, obj, string

KIND: Final = "DLQArchive"
PLURAL: Final = "dlqarchives"
MAX_NAME: Final = 46  # "<name>-prune" plus the CronJob's job suffix, "<name>-redrive-<8 hex>"
DEFAULT_MAX_AGE: Final = "14d"
DEFAULT_PRUNE_SCHEDULE: Final = "30 3 * * *"
RUN_ID: Final = r"^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$"


def _source() -> Schema:
    return obj(
        "The dead-letter topics and the consumer group that drains them.",
        {
            "kafka": kafka_cluster("The cluster the dead-letter topics live in."),
            "topics": array(
                kafka_name("A dead-letter topic."),
                "Dead-letter topics drained into the archive.",
                min_items=1,
                max_items=32,
                list_type="set",
            ),
            "consumerGroup": kafka_name(
                "Consumer group of the drainer (default tidal-dlq-archive.<namespace>.<name>); "
                "KEDA scales on its lag."
            ),
        },
        required=("kafka", "topics"),
    )


def _partitioning() -> Schema:
    return obj(
        "How archived dead letters are laid out in the bucket.",
        {
            "time": string(
                "Time partition of the object keys (by the dead letter's last failure time).",
                enum=("Hour", "Day"),
                default="Hour",
            ),
            "byEventType": boolean("Add the CloudEvents type to the object keys.", default=True),
        },
        default={},
    )


def _segments() -> Schema:
    return obj(
        "When an archive segment is closed and uploaded.",
        {
            "maxEvents": integer(
                "Events per segment.", minimum=1, maximum=1_000_000, default=10_000
            ),
            "maxAge": duration("Longest a segment stays open.", default="5m"),
        },
        default={},
    )


def _retention() -> Schema:
    schema = retention(
        "How long archived dead letters are kept.", max_age=DEFAULT_MAX_AGE, max_count=False
    )
    schema["properties"]["schedule"] = cron_schedule(
        "Cron schedule (UTC) of the retention run.", default=DEFAULT_PRUNE_SCHEDULE
    )
    return schema


def _scaling() -> Schema:
    return obj(
        "KEDA scaling of the drainer on consumer-group lag.",
        {
            "maxReplicas": integer(
                "Most drainer pods (no use above the partition count).",
                minimum=1,
                maximum=100,
                default=2,
            ),
            "lagThreshold": integer("Target lag per pod.", minimum=1, default=100),
            "activationLagThreshold": integer(
                "Lag above which the drainer wakes from zero.", minimum=0, default=0
            ),
            "pollingInterval": integer(
                "Seconds between lag checks.", minimum=5, maximum=3600, default=30
            ),
            "cooldownPeriod": integer(
                "Seconds without lag before scaling to zero.",
                minimum=0,
                maximum=86_400,
                default=300,
            ),
            "triggerAuthenticationName": string(
                "KEDA TriggerAuthentication for the Kafka scaler (SASL/TLS).",
                pattern=DNS_SUBDOMAIN,
                max_length=253,
            ),
        },
        default={},
    )


def _redrive() -> Schema:
    names = array(string("A value.", max_length=256), "Values to match.", max_items=32)
    return obj(
        "Re-drive: publish archived dead letters again. Setting a new runId starts one run.",
        {
            "runId": string(
                "Identifier of the requested run; change it to start another.",
                pattern=RUN_ID,
                max_length=63,
            ),
            "target": obj(
                "Where re-driven events go (default: each to its original topic, same cluster).",
                {
                    "topic": kafka_name("One topic for every event."),
                    "kafka": kafka_cluster("Another cluster to publish to."),
                },
            ),
            "filter": obj(
                "Which dead letters are re-driven (all when empty).",
                {
                    "types": names,
                    "errorClasses": names,
                    "subscribers": names,
                    "since": string("Failed at or after.", format="date-time"),
                    "until": string("Failed before.", format="date-time"),
                },
            ),
            "rateLimit": integer(
                "Events per second at most.", minimum=1, maximum=100_000, default=100
            ),
            "dryRun": boolean("Count what would be re-driven, publish nothing.", default=False),
        },
        default={},
    )


def spec_schema() -> Schema:
    """The ``spec`` of a DLQArchive."""
    return obj(
        "Which dead-letter topics to drain, where to, for how long, and re-drive requests.",
        {
            "source": _source(),
            "destination": object_store("Where the dead letters are archived."),
            "partitioning": _partitioning(),
            "compression": string(
                "Segment compression.", enum=("zstd", "gzip", "none"), default="zstd"
            ),
            "segments": _segments(),
            "retention": _retention(),
            "scaling": _scaling(),
            "redrive": _redrive(),
            "suspend": boolean(
                "Stop draining, retention and re-drives; the archive is kept.", default=False
            ),
        },
        required=("source", "destination"),
    )


def _redrive_status() -> Schema:
    return obj(
        "The newest re-drive run.",
        {
            "runId": string("The spec.redrive.runId it ran for."),
            "job": string("Name of the Job."),
            "phase": string(
                "Where it is (a finished run id is never run again).",
                enum=("Running", "Succeeded", "PartiallyFailed", "Failed"),
            ),
            "redriven": integer("Events published.", minimum=0),
            "present": integer(
                "Letters this run id had re-driven before (found in the target), not sent again.",
                minimum=0,
            ),
            "skipped": integer("Events not matching the filter.", minimum=0),
            "failed": integer("Events that could not be published.", minimum=0),
            "completionTime": string("When it finished.", format="date-time"),
            "reason": string("Failure reason, when it failed."),
            "message": string("Failure message, when it failed.", max_length=4096),
        },
    )


def status_schema() -> dict[str, Schema]:
    """The ``status`` fields of a DLQArchive."""
    return common_status() | {
        "consumerGroup": string("The drainer's effective consumer group."),
        "replicas": integer("Drainer pods running.", minimum=0),
        "archivedEvents": integer("Dead letters in the archive (after retention).", minimum=0),
        "archivedObjects": integer("Objects in the archive (after retention).", minimum=0),
        "storedBytes": integer("Bytes in the archive (after retention).", minimum=0),
        "prunedObjects": integer(
            "Objects deleted by retention, counted by the operator.", minimum=0
        ),
        "lastRetentionTime": string("When retention last ran.", format="date-time"),
        "redrive": _redrive_status(),
    }


def crd() -> dict[str, Any]:
    """The DLQArchive CustomResourceDefinition."""
    return definition(
        kind=KIND,
        plural=PLURAL,
        short_names=("dlqa",),
        description="Drains dead-letter topics into an object store, keeps and re-drives them.",
        spec=spec_schema(),
        status=status_schema(),
        columns=(
            printer_column("Topics", ".spec.source.topics"),
            printer_column("Bucket", ".spec.destination.bucket"),
            ready_column(),
            printer_column("Replicas", ".status.replicas", type="integer"),
            printer_column("Events", ".status.archivedEvents", type="integer"),
            printer_column("Bytes", ".status.storedBytes", type="integer", priority=1),
            printer_column("Redrive", ".status.redrive.phase", priority=1),
            age_column(),
        ),
        max_name=MAX_NAME,
    )
