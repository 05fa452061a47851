"""Restore -> its child: one Job running ``tidal restore`` into this cluster's Kafka.

The Restore's spec is read here (`restore_spec`) as the other kinds' are in
``tidal_operator.specs``. The Job's run id is ``restore-<uid>``: the data plane marks every
restored record with it and skips what the target holds already, so a retried or recreated Job
sends nothing twice; once the status records the run finished, the Job is not created again.
Pure; called by ``tidal_operator.reconciling``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from tidal_operator import locations
from tidal_operator.backups import PARTIAL_IS_FINAL, _encryption_args
from tidal_operator.checks import SpecError
from tidal_operator.config import OperatorConfig
from tidal_operator.crds import backuplocations as location_crd
from tidal_operator.crds import restores as crd
from tidal_operator.pods import (
    Manifest,
    container,
    kafka_env_from,
    key_volumes,
    metadata,
    pod_template,
    repeated,
    store_args,
    store_env,
)
from tidal_operator.specs import (
    Encryption,
    KafkaCluster,
    ObjectStore,
    Owner,
    _check_name,
    _encryption,
    _kafka,
    _store,
    _validated,
    owner_of,
)

COMPONENT: Final = "restore"
FINISHED: Final = ("Succeeded", "PartiallyFailed", "Failed")


@dataclass(frozen=True)
class RestoreSpec:
    store: ObjectStore
    policy: str
    backup_id: str | None
    encryption: Encryption
    kafka: KafkaCluster
    topic_prefix: str
    topics: tuple[str, ...]
    repartition: bool
    restamp: bool
    allow_non_empty: bool
    rate_limit: int
    active_deadline_seconds: int
    finished: bool = False


def restore_spec(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> RestoreSpec:
    """Read a Restore spec, or raise ``SpecError`` saying why it cannot be reconciled."""
    _check_name(owner_of(crd.KIND, meta), crd.MAX_NAME)
    value = _validated(crd.spec_schema, spec)
    source, target = value["source"], value["target"]
    if "store" not in source:
        raise SpecError("SchemaViolation", "spec.source: give a location or a store")
    return RestoreSpec(
        store=_store(source["store"]),
        policy=source["policy"],
        backup_id=source.get("backupId"),
        encryption=_encryption(source["encryption"]),
        kafka=_kafka(target["kafka"]),
        topic_prefix=target["topicPrefix"],
        topics=tuple(target.get("topics", ())),
        repartition=target["repartition"] == "ByKey",
        restamp=target["timestamps"] == "Now",
        allow_non_empty=target["allowNonEmpty"],
        rate_limit=value["rateLimit"],
        active_deadline_seconds=value["activeDeadlineSeconds"],
    )


def reference(spec: Mapping[str, Any]) -> tuple[str, str] | None:
    """The BackupLocation the Restore takes its store from, if it names one."""
    name = (spec.get("source") or {}).get("location")
    return (location_crd.KIND, str(name)) if name else None


def resolve(
    spec: Mapping[str, Any], location: Mapping[str, Any] | None, status: Mapping[str, Any]
) -> Mapping[str, Any]:
    """``spec`` with its BackupLocation's store and encryption; a finished restore is not
    refused because its backup has since left the store."""
    if status.get("phase") in FINISHED:
        location = {**(location or {}), "status": {}}
    return locations.resolve(spec, location)


def settled(spec: RestoreSpec, status: Mapping[str, Any]) -> RestoreSpec:
    """A restore the status records as finished is never run again."""
    return replace(spec, finished=status.get("phase") in FINISHED)


def job_name(owner: Owner) -> str:
    return f"{owner.name}-{COMPONENT}"


def run_id(owner: Owner) -> str:
    return f"restore-{owner.uid}"


def restore_args(owner: Owner, spec: RestoreSpec) -> list[str]:
    """``tidal restore ...`` arguments."""
    args = ["restore", *store_args(spec.store), *_encryption_args(spec.encryption)]
    args += ["--policy", spec.policy] + (["--backup-id", spec.backup_id] if spec.backup_id else [])
    args += ["--bootstrap-servers", spec.kafka.bootstrap_servers]
    args += ["--topic-prefix", spec.topic_prefix, *repeated("--topic", spec.topics)]
    args += ["--repartition", "by-key"] if spec.repartition else []
    args += ["--timestamps", "now"] if spec.restamp else []
    args += ["--allow-non-empty"] if spec.allow_non_empty else []
    return [*args, "--rate-limit", str(spec.rate_limit), "--run-id", run_id(owner)]


def job(owner: Owner, spec: RestoreSpec, config: OperatorConfig) -> Manifest:
    mounts, volumes = key_volumes(spec.encryption)
    main = container(
        restore_args(owner, spec),
        config=config,
        env=store_env(spec.store),
        env_from=kafka_env_from(spec.kafka),
        mounts=mounts,
    )
    template = pod_template(
        owner, COMPONENT, main, config=config, restart_policy="Never", volumes=volumes
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(owner, job_name(owner), COMPONENT),
        "spec": {
            "backoffLimit": 2,
            "activeDeadlineSeconds": spec.active_deadline_seconds,
            "podFailurePolicy": PARTIAL_IS_FINAL,
            "template": template,
        },
    }


def children(owner: Owner, spec: RestoreSpec, config: OperatorConfig) -> list[Manifest]:
    """The restore's Job, until the status records it finished."""
    return [] if spec.finished else [job(owner, spec, config)]
