"""KEDA ScaledObjects from an App's Kafka consumer groups: scale to zero on lag.

The Kafka worker (`tidal run --transport kafka`) runs every subscription of an App in one
Deployment, in the App's consumer group (or one of its own, ``group_ids``); the ScaledObject
gets one ``kafka`` trigger per (group, consumed topic), each retry topic included, so records
waiting for a retry also wake the worker. Replicas are capped at the partition count: more
consumers than partitions sit idle. The first event must wake the worker (KEDA activates on
lag > activationLagThreshold, and counts a never-committed group under ``latest`` as lag 1 per
partition, or 0 with scaleToZeroOnInvalidOffset: kedacore/keda pkg/scalers/kafka_scaler.go),
so a non-zero activation threshold and ``auto_offset_reset=latest`` are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from tidal._app import App
from tidal._errors import ConfigurationError
from tidal._manifests.triggers import Manifest
from tidal._settings import KafkaSettings
from tidal._transports.kafka.names import SubscriptionTopics, app_topics


@dataclass(frozen=True, kw_only=True)
class ScalingOptions:
    """The scaler's knobs; ``partitions`` is that of the consumed topics."""

    partitions: int = 6
    max_replicas: int = 6
    lag_threshold: int = 50
    activation_lag_threshold: int = 0
    polling_interval: int = 15
    cooldown_period: int = 120

    def __post_init__(self) -> None:
        if self.partitions < 1 or self.max_replicas < 1:
            raise ConfigurationError("partitions and max_replicas must be at least 1")
        if self.lag_threshold < 1:
            raise ConfigurationError("lag_threshold must be >= 1")
        if self.activation_lag_threshold != 0:
            raise ConfigurationError(
                "activation_lag_threshold must be 0: the worker scales from zero, and up to"
                f" {self.activation_lag_threshold} events per group and topic would wait at"
                " zero replicas until more arrive"
            )

    @property
    def replicas(self) -> int:
        """``max_replicas``, capped at the partition count."""
        return min(self.max_replicas, self.partitions)


def subscription_topics(app: App, settings: KafkaSettings) -> list[SubscriptionTopics]:
    """Each subscription's consumer group and topics, named and checked as the worker names and
    checks them."""
    return list(app_topics(app, settings).values())


def kafka_triggers(
    app: App, settings: KafkaSettings, options: ScalingOptions
) -> list[dict[str, object]]:
    """One KEDA ``kafka`` trigger per consumer group and topic it consumes (the App's
    subscriptions share a group, so its source topics appear once)."""
    pairs = {
        (topics.group, topic): None
        for topics in subscription_topics(app, settings)
        for topic in topics.consumed
    }
    return [
        {
            "type": "kafka",
            "metadata": {
                "bootstrapServers": settings.bootstrap_servers,
                "consumerGroup": group,
                "topic": topic,
                "lagThreshold": str(options.lag_threshold),
                "activationLagThreshold": str(options.activation_lag_threshold),
                "offsetResetPolicy": settings.auto_offset_reset,
            },
        }
        for group, topic in pairs
    ]


def scaled_object(app: App, settings: KafkaSettings, options: ScalingOptions) -> Manifest:
    """The ScaledObject scaling the App's worker Deployment (named like the App) from zero."""
    if settings.auto_offset_reset != "earliest":
        raise ConfigurationError(
            f"auto_offset_reset {settings.auto_offset_reset!r} cannot scale from zero: KEDA counts"
            " a group that never committed as lag 1 per partition (the worker never scales to"
            " zero) or, with scaleToZeroOnInvalidOffset, 0 (it never starts); use earliest"
        )
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": app.name, "labels": {"app.kubernetes.io/name": app.name}},
        "spec": {
            "scaleTargetRef": {"name": app.name},
            "minReplicaCount": 0,
            "maxReplicaCount": options.replicas,
            "pollingInterval": options.polling_interval,
            "cooldownPeriod": options.cooldown_period,
            "triggers": kafka_triggers(app, settings, options),
        },
    }
