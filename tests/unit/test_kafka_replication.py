"""The replication factor of created topics when the settings give none: the cluster's
``default.replication.factor`` as a broker's DescribeConfigs answer says it (decoded from the
bytes a broker sends), else min(3, brokers)."""

from __future__ import annotations

from io import BytesIO

import pytest
from aiokafka.protocol.admin import DescribeConfigsResponse_v2

from tidal._settings import KafkaSettings
from tidal.kafka._provisioning import broker_replication_factor, fallback_replication_factor

BROKER = 4  # ConfigResourceType.BROKER
STATIC_BROKER_CONFIG = 4  # a config_source of DescribeConfigsResponse.json


def _answer(*resources: tuple[int, list[tuple[str, str | None]]]) -> DescribeConfigsResponse_v2:
    sent = DescribeConfigsResponse_v2(
        throttle_time_ms=0,
        resources=[
            (
                error,
                None,
                BROKER,
                "1",
                [(n, v, False, STATIC_BROKER_CONFIG, False, []) for n, v in rows],
            )
            for error, rows in resources
        ],
    )
    return DescribeConfigsResponse_v2.decode(BytesIO(sent.encode()))


def test_the_settings_leave_the_replication_factor_to_the_cluster() -> None:
    assert KafkaSettings().replication_factor is None
    assert KafkaSettings(replication_factor=2).replication_factor == 2
    with pytest.raises(ValueError, match="replication_factor"):
        KafkaSettings(replication_factor=0)


@pytest.mark.parametrize(("brokers", "replicas"), [(0, 1), (1, 1), (2, 2), (3, 3), (7, 3)])
def test_the_fallback_is_three_replicas_or_every_broker(brokers: int, replicas: int) -> None:
    assert fallback_replication_factor(brokers) == replicas


def test_the_brokers_default_replication_factor_is_read_from_its_configs() -> None:
    rows = [("num.partitions", "6"), ("default.replication.factor", "3"), ("ssl.key", None)]
    assert broker_replication_factor([_answer((0, rows))]) == 3


@pytest.mark.parametrize(
    "resources",
    [
        [(0, [])],  # tansu: no broker configs
        [(0, [("num.partitions", "6")])],
        [(29, [])],  # CLUSTER_AUTHORIZATION_FAILED, say
        [(0, [("default.replication.factor", None)])],
        [(0, [("default.replication.factor", "0")])],
    ],
)
def test_no_usable_broker_default_is_none(
    resources: list[tuple[int, list[tuple[str, str | None]]]],
) -> None:
    assert broker_replication_factor([_answer(*resources)]) is None
