"""DLQArchive -> children: drainer Deployment, KEDA ScaledObject, retention CronJob, re-drive Job.

The drainer runs ``tidal dlq drain`` in a consumer group; KEDA scales it on that group's lag,
from zero (one kafka trigger per dead-letter topic). It serves ``/metrics`` (the dead letters it
archived) on the container port named ``metrics`` (`METRICS_PORT`), which the chart's drainer
PodMonitor scrapes in every namespace. Retention runs daily as ``tidal dlq prune``
so that it happens even while the drainer sleeps at zero. A new ``spec.redrive.runId`` gives a
Job running ``tidal dlq redrive``. Pure; called by ``tidal_operator.reconciling``.
"""

from __future__ import annotations

import hashlib
from typing import Final

from tidal_operator.config import OperatorConfig
from tidal_operator.pods import (
    Manifest,
    container,
    deployment_of,
    kafka_env_from,
    metadata,
    pod_template,
    repeated,
    store_args,
    store_env,
    utc_cron_job,
)
from tidal_operator.specs import DLQArchiveSpec, Owner, Redrive

DRAIN: Final = "drain"
PRUNE: Final = "prune"
REDRIVE: Final = "redrive"
RUN_ID_LABEL: Final = "tidal.dev/redrive-run"
PAUSED_REPLICAS: Final = "autoscaling.keda.sh/paused-replicas"
METRICS_PORT: Final = 9464
"""The drainer's ``/metrics`` port (tidal's default ``TIDAL_OBSERVABILITY__METRICS_PORT``)."""
METRICS_PORT_NAME: Final = "metrics"


def drain_name(owner: Owner) -> str:
    return f"{owner.name}-{DRAIN}"


def prune_name(owner: Owner) -> str:
    return f"{owner.name}-{PRUNE}"


def redrive_name(owner: Owner, run_id: str) -> str:
    """``<name>-redrive-<8 hex of the run id>``: stable per run, always a valid Job name."""
    return f"{owner.name}-{REDRIVE}-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"


def _archive(owner: Owner, spec: DLQArchiveSpec) -> list[str]:
    return ["--archive", f"{owner.namespace}/{owner.name}", *store_args(spec.destination)]


def drain_args(owner: Owner, spec: DLQArchiveSpec) -> list[str]:
    """``tidal dlq drain ...`` arguments."""
    args = ["dlq", "drain", *_archive(owner, spec)]
    args += ["--bootstrap-servers", spec.kafka.bootstrap_servers, "--group", spec.consumer_group]
    args += repeated("--topic", spec.topics)
    args += ["--partition-by-time", spec.time_partition.lower()]
    args += ["--partition-by-type"] if spec.by_event_type else []
    args += ["--compression", spec.compression]
    args += ["--segment-max-events", str(spec.segment_max_events)]
    args += ["--segment-max-age", spec.segment_max_age]
    return [*args, "--metrics-port", str(METRICS_PORT)]


def prune_args(owner: Owner, spec: DLQArchiveSpec) -> list[str]:
    """``tidal dlq prune ...`` arguments."""
    return ["dlq", "prune", *_archive(owner, spec), "--retention-max-age", spec.max_age]


def redrive_args(owner: Owner, spec: DLQArchiveSpec, redrive: Redrive) -> list[str]:
    """``tidal dlq redrive ...`` arguments."""
    kafka = redrive.kafka or spec.kafka
    args = [
        "dlq",
        "redrive",
        *_archive(owner, spec),
        "--bootstrap-servers",
        kafka.bootstrap_servers,
    ]
    args += ["--to-topic", redrive.topic] if redrive.topic else []
    for flag, values in (
        ("--type", redrive.types),
        ("--error-class", redrive.error_classes),
        ("--subscriber", redrive.subscribers),
    ):
        args += repeated(flag, values)
    args += ["--since", redrive.since] if redrive.since else []
    args += ["--until", redrive.until] if redrive.until else []
    args += ["--rate-limit", str(redrive.rate_limit)]
    args += ["--run-id", redrive.run_id] if redrive.run_id else []
    return args + (["--dry-run"] if redrive.dry_run else [])


def _pod(owner: Owner, spec: DLQArchiveSpec, config: OperatorConfig, component: str) -> Manifest:
    build = {DRAIN: drain_args, PRUNE: prune_args}
    args = (
        redrive_args(owner, spec, spec.redrive)
        if component == REDRIVE
        else build[component](owner, spec)
    )
    kafka = [spec.kafka, spec.redrive.kafka] if component == REDRIVE else [spec.kafka]
    main = container(
        args, config=config, env=store_env(spec.destination), env_from=kafka_env_from(*kafka)
    )
    if component == DRAIN:
        main["ports"] = [{"name": METRICS_PORT_NAME, "containerPort": METRICS_PORT}]
    restart = "Always" if component == DRAIN else "Never"
    return pod_template(owner, component, main, config=config, restart_policy=restart)


def deployment(owner: Owner, spec: DLQArchiveSpec, config: OperatorConfig) -> Manifest:
    """The drainer; no ``replicas``: KEDA owns the count."""
    template = _pod(owner, spec, config, DRAIN)
    template["spec"]["terminationGracePeriodSeconds"] = 60  # close and upload the open segment
    return deployment_of(owner, drain_name(owner), DRAIN, template)


def _trigger(spec: DLQArchiveSpec, topic: str) -> Manifest:
    trigger: Manifest = {
        "type": "kafka",
        "metadata": {
            "bootstrapServers": spec.kafka.bootstrap_servers,
            "consumerGroup": spec.consumer_group,
            "topic": topic,
            "lagThreshold": str(spec.lag_threshold),
            "activationLagThreshold": str(spec.activation_lag_threshold),
            "offsetResetPolicy": "earliest",
            "allowIdleConsumers": "false",
            "scaleToZeroOnInvalidOffset": "false",
        },
    }
    if spec.trigger_authentication:
        trigger["authenticationRef"] = {"name": spec.trigger_authentication}
    return trigger


def scaled_object(owner: Owner, spec: DLQArchiveSpec) -> Manifest:
    """KEDA ScaledObject: lag of the drainer's group on each dead-letter topic, down to zero."""
    meta = metadata(owner, drain_name(owner), DRAIN)
    if spec.suspend:
        meta["annotations"] = {PAUSED_REPLICAS: "0"}
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": drain_name(owner),
            },
            "minReplicaCount": 0,
            "maxReplicaCount": spec.max_replicas,
            "pollingInterval": spec.polling_interval,
            "cooldownPeriod": spec.cooldown_period,
            "triggers": [_trigger(spec, topic) for topic in spec.topics],
        },
    }


def cron_job(owner: Owner, spec: DLQArchiveSpec, config: OperatorConfig) -> Manifest:
    """The daily retention run."""
    job = {
        "backoffLimit": 2,
        "activeDeadlineSeconds": 3600,
        "template": _pod(owner, spec, config, PRUNE),
    }
    return utc_cron_job(
        owner,
        prune_name(owner),
        PRUNE,
        job,
        schedule=spec.prune_schedule,
        suspend=spec.suspend,
        history_limit=3,
    )


def redrive_job(
    owner: Owner, spec: DLQArchiveSpec, config: OperatorConfig, run_id: str
) -> Manifest:
    """The Job of one re-drive request."""
    template = _pod(owner, spec, config, REDRIVE)
    template["metadata"]["labels"][RUN_ID_LABEL] = run_id
    meta = metadata(owner, redrive_name(owner, run_id), REDRIVE)
    meta["labels"][RUN_ID_LABEL] = run_id
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {"backoffLimit": 1, "activeDeadlineSeconds": 21_600, "template": template},
    }


def children(owner: Owner, spec: DLQArchiveSpec, config: OperatorConfig) -> list[Manifest]:
    """Every child an archive needs; the re-drive Job only for a requested, unsuspended run
    the status does not record as finished."""
    result = [
        deployment(owner, spec, config),
        scaled_object(owner, spec),
        cron_job(owner, spec, config),
    ]
    if spec.redrive.run_id and not spec.suspend and not spec.redrive.finished:
        result.append(redrive_job(owner, spec, config, spec.redrive.run_id))
    return result
