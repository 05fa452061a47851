"""The pipeline overview's "Object storage" row: S3 event notifications (``tidal source
s3-sqs`` / ``s3-webhook``, CloudEvents types ``com.amazonaws.s3.*``) as the services take them,
and the depth of the queue the source drains, as KEDA's aws-sqs-queue scaler reads it
(``keda_scaler_metrics_value``: KEDA's own metric, pkg/metricscollector/prommetrics.go:35-52
at v2.20.2; only a cluster with KEDA has it). Called by `monitoring.dashboards.pipeline`.
"""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries

from monitoring import promql
from monitoring.panels import RATE, SERVICES, Query, timeseries

S3_TYPES: Final = 'event_type=~"com\\\\.amazonaws\\\\.s3\\\\..+"'
QUEUE_DEPTH: Final = (
    'max by (namespace, scaledObject) (keda_scaler_metrics_value{scaledObject=~".*object-source"})'
)


def object_storage() -> list[Timeseries]:
    return [
        timeseries(
            "S3 notifications/s by service and outcome",
            "ops",
            Query(
                promql.events_rate("service, outcome", RATE, SERVICES, S3_TYPES),
                "{{service}} {{outcome}}",
            ),
            description="Object-created events from tidal source; dead letters are uploads "
            "that cannot be read (corrupt images, CSVs without the four columns).",
        ),
        timeseries(
            "Object source queue depth",
            "short",
            Query(QUEUE_DEPTH, "{{scaledObject}}"),
            description="Messages visible and in flight in the SQS queue the bucket notifies, as "
            "KEDA's aws-sqs-queue scaler reads it to scale the source from zero.",
        ),
    ]
