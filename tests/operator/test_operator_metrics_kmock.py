"""The real kopf operator against kmock, scraped over HTTP: a finished backup run shows on the
operator's own ``/metrics`` (``tidal_backup_*``), and a deleted policy leaves it."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
import pytest
from operator_harness import NAMESPACE, Cluster, eventually
from prometheus_client.parser import text_string_to_metric_families
from test_operator_backuppolicy_kmock import SPEC, finish_a_verified_run

from tidal_operator.config import OperatorConfig
from tidal_operator.metrics import SCHEDULED_GRACE

pytestmark = pytest.mark.usefixtures("operator")

LABELS = {"service": "tidal-operator", "resource_namespace": NAMESPACE, "policy": "orders"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def operator_config() -> OperatorConfig:
    return OperatorConfig(image="tidal:test", resync_interval=0.5, metrics_port=free_port())


async def scrape(port: int) -> tuple[str, dict[tuple[str, frozenset[Any]], float]]:
    """The exposition text and its samples by (name, labels)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        text = await response.text()
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return text, samples


def sample(samples: dict[tuple[str, frozenset[Any]], float], name: str, **labels: str) -> Any:
    return samples.get((name, frozenset((LABELS | labels).items())))


async def test_a_successful_run_is_scraped_from_the_operators_metrics(
    cluster: Cluster, operator_config: OperatorConfig
) -> None:
    port = operator_config.metrics_port
    await cluster.create("BackupPolicy", "orders", SPEC)
    await eventually(lambda: cluster.get("CronJob", "orders-backup"))

    async def exported() -> list[Any]:
        found = sample((await scrape(port))[1], "tidal_backup_runs_total", result="success")
        return [found] if found is not None else []

    assert await eventually(exported, what="the policy on /metrics") == [0.0], "no run yet"
    await finish_a_verified_run(cluster)

    async def counted() -> Any:
        text, samples = await scrape(port)
        return (
            (text, samples)
            if sample(samples, "tidal_backup_runs_total", result="success")
            else None
        )

    text, samples = await eventually(counted, what="the successful run on /metrics")
    exposed = (
        'tidal_backup_runs_total{policy="orders",resource_namespace="tenants",'
        'result="success",service="tidal-operator"} 1.0'
    )
    assert exposed in text, "the exact name and labels the dashboard and alerts query"
    assert sample(samples, "tidal_backup_runs_total", result="failure") == 0.0
    success = sample(samples, "tidal_backup_last_success_timestamp_seconds")
    assert success == 1735698000.0  # 2025-01-01T02:20:00Z, the Job's completion time
    assert sample(samples, "tidal_backup_max_age_seconds") == 86_400 + SCHEDULED_GRACE
    assert sample(samples, "tidal_backup_last_size_bytes") == 9_000_000
    assert sample(samples, "tidal_backup_stored_bytes") == 9_000_000
    assert sample(samples, "tidal_backup_events_total") == 200_000
    info = ("tidal_info", frozenset({("service", "tidal-operator"), ("transport", "operator")}))
    assert any(name == info[0] and info[1] <= labels for name, labels in samples)

    await cluster.delete("BackupPolicy", "orders")

    async def forgotten() -> bool:
        return sample((await scrape(port))[1], "tidal_backup_runs_total", result="success") is None

    await eventually(forgotten, what="the deleted policy gone from /metrics")
