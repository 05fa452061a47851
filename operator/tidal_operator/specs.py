"""Specs of the two custom resources, read into frozen dataclasses or refused with a reason.

``backup_policy(meta, spec)`` and ``dlq_archive(meta, spec)`` default the spec from the CRD
schema, validate it against that schema (the API server does too, but objects may predate a
schema change), then run the checks the schema cannot express. A refusal is a ``SpecError``
whose reason becomes ``SpecValid=False``. Pure; called by ``tidal_operator.reconciling``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

from tidal_operator.checks import SpecError, check_cron, check_patterns, seconds
from tidal_operator.crds import backuppolicies, dlqarchives
from tidal_operator.crds.openapi import Schema
from tidal_operator.defaulting import defaulted


@dataclass(frozen=True)
class Owner:
    """The custom resource a set of children belongs to."""

    kind: str
    name: str
    namespace: str
    uid: str
    generation: int


@dataclass(frozen=True)
class KafkaCluster:
    bootstrap_servers: str
    credentials_secret: str | None = None


@dataclass(frozen=True)
class ObjectStore:
    bucket: str
    prefix: str
    region: str | None
    endpoint: str | None
    force_path_style: bool
    secret_name: str
    access_key_id_key: str
    secret_access_key_key: str


@dataclass(frozen=True)
class Encryption:
    mode: str  # ServerSide | ClientSide
    algorithm: str
    kms_key_id: str | None
    key_secret: str | None
    key_secret_key: str
    previous_keys: tuple[tuple[str, str], ...] = ()
    """(Secret, key) of each rotated-out key, read only."""


@dataclass(frozen=True)
class RestoreTest:
    schedule: str
    kafka: KafkaCluster
    scratch_prefix: str
    replication_factor: int


@dataclass(frozen=True)
class BackupPolicySpec:
    kafka: KafkaCluster
    topics: tuple[str, ...]
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    continuous: bool
    schedule: str
    flush_interval: str
    destination: ObjectStore
    restore_kafka: KafkaCluster | None
    restore_topic_prefix: str
    max_age: str
    max_count: int | None
    encryption: Encryption
    backoff_limit: int
    active_deadline_seconds: int
    history_limit: int
    suspend: bool
    groups: tuple[str, ...] = ()
    """Consumer groups whose offsets are backed up."""
    restore_test: RestoreTest | None = None
    object_lock: tuple[str, int] | None = None
    """(mode, days) of S3 Object Lock on every backup object, when asked for."""


@dataclass(frozen=True)
class Redrive:
    run_id: str | None
    topic: str | None
    kafka: KafkaCluster | None
    types: tuple[str, ...]
    error_classes: tuple[str, ...]
    subscribers: tuple[str, ...]
    since: str | None
    until: str | None
    rate_limit: int
    dry_run: bool
    finished: bool = False
    """The status records this run id as finished: its Job is never created again."""


@dataclass(frozen=True)
class DLQArchiveSpec:
    kafka: KafkaCluster
    topics: tuple[str, ...]
    consumer_group: str
    destination: ObjectStore
    time_partition: str
    by_event_type: bool
    compression: str
    segment_max_events: int
    segment_max_age: str
    max_age: str
    prune_schedule: str
    max_replicas: int
    lag_threshold: int
    activation_lag_threshold: int
    polling_interval: int
    cooldown_period: int
    trigger_authentication: str | None
    redrive: Redrive
    suspend: bool


@functools.cache
def _validator(schema_fn: Callable[[], Schema]) -> tuple[Schema, jsonschema.Draft7Validator]:
    schema = schema_fn()
    return schema, jsonschema.Draft7Validator(schema)


def _validated(schema_fn: Callable[[], Schema], spec: Mapping[str, Any]) -> dict[str, Any]:
    schema, validator = _validator(schema_fn)
    value = defaulted(schema, spec)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is not None:
        path = ".".join(["spec", *(str(part) for part in error.absolute_path)])
        raise SpecError("SchemaViolation", f"{path}: {error.message}")
    return dict(value)


def owner_of(kind: str, meta: Mapping[str, Any]) -> Owner:
    """The owner identity from an object's metadata."""
    return Owner(
        kind=kind,
        name=str(meta["name"]),
        namespace=str(meta.get("namespace") or "default"),
        uid=str(meta.get("uid") or ""),
        generation=int(meta.get("generation") or 0),
    )


def _check_name(owner: Owner, limit: int) -> None:
    if len(owner.name) > limit:
        raise SpecError(
            "NameTooLong", f"metadata.name has {len(owner.name)} characters; at most {limit} fit"
        )


def _kafka(value: Mapping[str, Any]) -> KafkaCluster:
    return KafkaCluster(value["bootstrapServers"], value.get("credentialsSecretName"))


def _store(value: Mapping[str, Any]) -> ObjectStore:
    credentials = value["credentials"]
    return ObjectStore(
        bucket=value["bucket"],
        prefix=value["prefix"],
        region=value.get("region"),
        endpoint=value.get("endpoint"),
        force_path_style=value["forcePathStyle"],
        secret_name=credentials["secretName"],
        access_key_id_key=credentials["accessKeyIdKey"],
        secret_access_key_key=credentials["secretAccessKeyKey"],
    )


def _encryption(value: Mapping[str, Any]) -> Encryption:
    server = value["serverSide"]
    key_ref = value.get("clientSide", {}).get("keySecretRef", {})
    if value["mode"] == "ClientSide" and not key_ref:
        raise SpecError(
            "MissingEncryptionKey",
            "spec.encryption.clientSide.keySecretRef is required with mode ClientSide: "
            "a key that is not stored makes the backups unreadable",
        )
    if (
        value["mode"] == "ServerSide"
        and server["algorithm"] == "aws:kms"
        and not server.get("kmsKeyId")
    ):
        raise SpecError(
            "MissingKmsKey", "spec.encryption.serverSide.kmsKeyId is required for aws:kms"
        )
    return Encryption(
        mode=value["mode"],
        algorithm=server["algorithm"],
        kms_key_id=server.get("kmsKeyId"),
        key_secret=key_ref.get("name"),
        key_secret_key=key_ref.get("key", "key"),
        previous_keys=tuple(
            (ref["name"], ref.get("key", "key"))
            for ref in value.get("clientSide", {}).get("previousKeySecretRefs", [])
        ),
    )


def backup_policy(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> BackupPolicySpec:
    """Read a BackupPolicy spec, or raise ``SpecError`` saying why it cannot be reconciled."""
    _check_name(owner_of(backuppolicies.KIND, meta), backuppolicies.MAX_NAME)
    value = _validated(backuppolicies.spec_schema, spec)
    sources, destination, job = value["sources"], value["destination"], value["job"]
    topics, include = tuple(sources.get("topics", ())), tuple(sources.get("include", ()))
    if not topics and not include:
        raise SpecError("NoTopicsSelected", "spec.sources needs topics or include patterns")
    check_patterns(include, field="spec.sources.include")
    check_patterns(sources.get("exclude", ()), field="spec.sources.exclude")
    check_cron(value["schedule"], field="spec.schedule")
    seconds(value["retention"]["maxAge"], field="spec.retention.maxAge")
    seconds(value["continuous"]["flushInterval"], field="spec.continuous.flushInterval")
    restore = destination.get("restoreTarget")
    return BackupPolicySpec(
        kafka=_kafka(sources["kafka"]),
        topics=topics,
        include=include,
        exclude=tuple(sources.get("exclude", ())),
        continuous=value["mode"] == "Continuous",
        schedule=value["schedule"],
        flush_interval=value["continuous"]["flushInterval"],
        destination=_store(destination),
        restore_kafka=_kafka(restore["kafka"]) if restore else None,
        restore_topic_prefix=restore["topicPrefix"] if restore else "",
        max_age=value["retention"]["maxAge"],
        max_count=value["retention"].get("maxCount"),
        encryption=_encryption(value["encryption"]),
        backoff_limit=job["backoffLimit"],
        active_deadline_seconds=job["activeDeadlineSeconds"],
        history_limit=job["historyLimit"],
        suspend=value["suspend"],
        groups=tuple(sources.get("consumerGroups", ())),
        restore_test=_restore_test(value.get("restoreTest")),
        object_lock=(lock["mode"], lock["retentionDays"])
        if (lock := destination.get("objectLock"))
        else None,
    )


def _restore_test(value: Mapping[str, Any] | None) -> RestoreTest | None:
    if not value:
        return None
    check_cron(value["schedule"], field="spec.restoreTest.schedule")
    return RestoreTest(
        schedule=value["schedule"],
        kafka=_kafka(value["kafka"]),
        scratch_prefix=value["scratchTopicPrefix"],
        replication_factor=value["replicationFactor"],
    )


def _redrive(value: Mapping[str, Any], *, sources: tuple[str, ...]) -> Redrive:
    target, filters = value.get("target", {}), value.get("filter", {})
    if target.get("topic") in sources and "kafka" not in target:
        raise SpecError(
            "RedriveLoop", f"spec.redrive.target.topic {target['topic']!r} is a drained topic"
        )
    since, until = filters.get("since"), filters.get("until")
    if since and until and since >= until:
        raise SpecError("InvalidRedriveWindow", "spec.redrive.filter.since must precede until")
    return Redrive(
        run_id=value.get("runId"),
        topic=target.get("topic"),
        kafka=_kafka(target["kafka"]) if "kafka" in target else None,
        types=tuple(filters.get("types", ())),
        error_classes=tuple(filters.get("errorClasses", ())),
        subscribers=tuple(filters.get("subscribers", ())),
        since=since,
        until=until,
        rate_limit=value["rateLimit"],
        dry_run=value["dryRun"],
    )


def dlq_archive(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> DLQArchiveSpec:
    """Read a DLQArchive spec, or raise ``SpecError`` saying why it cannot be reconciled."""
    owner = owner_of(dlqarchives.KIND, meta)
    _check_name(owner, dlqarchives.MAX_NAME)
    value = _validated(dlqarchives.spec_schema, spec)
    source, scaling, retention = value["source"], value["scaling"], value["retention"]
    check_cron(retention["schedule"], field="spec.retention.schedule")
    seconds(retention["maxAge"], field="spec.retention.maxAge")
    seconds(value["segments"]["maxAge"], field="spec.segments.maxAge")
    topics = tuple(source["topics"])
    return DLQArchiveSpec(
        kafka=_kafka(source["kafka"]),
        topics=topics,
        consumer_group=source.get("consumerGroup")
        or f"tidal-dlq-archive.{owner.namespace}.{owner.name}",
        destination=_store(value["destination"]),
        time_partition=value["partitioning"]["time"],
        by_event_type=value["partitioning"]["byEventType"],
        compression=value["compression"],
        segment_max_events=value["segments"]["maxEvents"],
        segment_max_age=value["segments"]["maxAge"],
        max_age=retention["maxAge"],
        prune_schedule=retention["schedule"],
        max_replicas=scaling["maxReplicas"],
        lag_threshold=scaling["lagThreshold"],
        activation_lag_threshold=scaling["activationLagThreshold"],
        polling_interval=scaling["pollingInterval"],
        cooldown_period=scaling["cooldownPeriod"],
        trigger_authentication=scaling.get("triggerAuthenticationName"),
        redrive=_redrive(value["redrive"], sources=topics),
        suspend=value["suspend"],
    )
