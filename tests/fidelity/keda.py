"""KEDA's rules for a ScaledObject with kafka triggers, restated from kedacore/keda at the pin.

The kafka scaler's metadata keys (a key it does not read is ignored silently by default), its
value rules, how it turns lag into activation (lag > activationLagThreshold) and what it counts
for a group that never committed, and the ScaledObject's replica bounds and target.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from tests.fidelity.rules import Cluster, Doc, Rule, is_kind
from tests.fidelity.upstream import KEDA, Cite

SCALER: Final = "pkg/scalers/kafka_scaler.go"
# kafka_scaler.go:59-100: the keys with order=triggerMetadata (the others come from auth only)
KEYS: Final = frozenset(
    {"bootstrapServers", "consumerGroup", "topic", "partitionLimitation", "lagThreshold"}
    | {"activationLagThreshold", "offsetResetPolicy", "allowIdleConsumers"}
    | {"excludePersistentLag", "scaleToZeroOnInvalidOffset", "limitToPartitionsWithLag"}
    | {"ensureEvenDistributionOfPartitions", "version", "tls", "unsafeSsl", "sasl"}
    | {"saslTokenProvider", "awsRegion"}
)
FROM_ENV: Final = frozenset({"bootstrapServers", "consumerGroup", "topic"})  # resolvedEnv
REQUIRED: Final = ("bootstrapServers", "consumerGroup")  # no optional, no default
BOOLEANS: Final = frozenset(
    {"allowIdleConsumers", "excludePersistentLag", "scaleToZeroOnInvalidOffset"}
    | {"limitToPartitionsWithLag", "ensureEvenDistributionOfPartitions", "unsafeSsl"}
)
GO_INT: Final = re.compile(r"^[+-]?[0-9]+$")  # strconv.ParseInt
GO_BOOL: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})
GO_BOOL_ALL: Final = GO_BOOL | {"0", "f", "F", "FALSE", "false", "False"}  # strconv.ParseBool


def _keys(metadata: dict[str, str]) -> Iterator[str]:
    for key in sorted(metadata):
        base = key.removesuffix("FromEnv")
        if key not in KEYS and not (key != base and base in FROM_ENV):
            yield f"kafka metadata {key!r} is not read by KEDA's kafka scaler (ignored silently)"


def check_kafka_metadata(doc: Doc, cluster: Cluster) -> Iterator[str]:
    for trigger in doc.get("spec", {}).get("triggers", []):
        if trigger.get("type") != "kafka":
            continue
        meta = {k: str(v) for k, v in (trigger.get("metadata") or {}).items()}
        yield from _keys(meta)
        for key in REQUIRED:
            if not meta.get(key) and not meta.get(f"{key}FromEnv"):
                yield f"kafka metadata {key} is required"
        lag, activation = meta.get("lagThreshold", "10"), meta.get("activationLagThreshold", "0")
        if not GO_INT.match(lag) or int(lag) <= 0:
            yield f"lagThreshold {lag!r} must be a positive integer"
        if not GO_INT.match(activation) or int(activation) < 0:
            yield f"activationLagThreshold {activation!r} must be a non-negative integer"
        if meta.get("offsetResetPolicy", "latest") not in ("latest", "earliest"):
            yield f"offsetResetPolicy {meta['offsetResetPolicy']!r} is not latest or earliest"
        for key in sorted(BOOLEANS & set(meta)):
            if meta[key] not in GO_BOOL_ALL:
                yield f"{key} {meta[key]!r} is not a Go boolean"


def check_scale_from_zero(doc: Doc, cluster: Cluster) -> Iterator[str]:
    """With minReplicaCount 0 the first event must wake the workload: activation is lag >
    activationLagThreshold (kafka_scaler.go:786), and a group that never committed counts as
    lag 1 per partition under `latest` (the workload never scales to zero) or 0 with
    scaleToZeroOnInvalidOffset (it never starts) (kafka_scaler.go:636-656)."""
    spec = doc.get("spec", {})
    if spec.get("minReplicaCount", 0) != 0:
        return
    for trigger in spec.get("triggers", []):
        meta = {k: str(v) for k, v in (trigger.get("metadata") or {}).items()}
        if trigger.get("type") != "kafka":
            continue
        if meta.get("activationLagThreshold", "0") != "0":
            yield (
                f"topic {meta.get('topic')}: activationLagThreshold "
                f"{meta['activationLagThreshold']} leaves that many events waiting at zero replicas"
            )
        if meta.get("offsetResetPolicy", "latest") == "latest":
            yield f"topic {meta.get('topic')}: offsetResetPolicy latest cannot scale from zero"


def check_scaled_object(doc: Doc, cluster: Cluster) -> Iterator[str]:
    """scaledobject_types.go:353-369 (replica bounds) and the target it scales."""
    spec = doc.get("spec", {})
    low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    if low > high:
        yield f"minReplicaCount {low} exceeds maxReplicaCount {high}"
    idle = spec.get("idleReplicaCount")
    if idle is not None and idle >= low:
        yield f"idleReplicaCount {idle} must be less than minReplicaCount {low}"
    target = spec.get("scaleTargetRef", {})
    kind = target.get("kind", "Deployment")
    if cluster.objects and not cluster.has(kind, target.get("name", "")):
        yield f"scaleTargetRef {kind}/{target.get('name')} is not in the release"


def cite(path: str, lines: str) -> Cite:
    return Cite(KEDA, path, lines)


SCALED_OBJECT = is_kind("keda.sh/v1alpha1", "ScaledObject")
RULES: Final = (
    Rule(
        "keda-kafka-metadata",
        (
            cite(SCALER, "59-100,115-148"),
            cite("pkg/scalers/scalersconfig/typed_config.go", "526-550"),
        ),
        SCALED_OBJECT,
        check_kafka_metadata,
    ),
    Rule(
        "keda-scale-from-zero", (cite(SCALER, "636-656,786"),), SCALED_OBJECT, check_scale_from_zero
    ),
    Rule(
        "keda-scaled-object",
        (cite("apis/keda/v1alpha1/scaledobject_types.go", "353-369"),),
        SCALED_OBJECT,
        check_scaled_object,
    ),
)
