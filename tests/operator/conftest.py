"""Fixtures: kmock's Kubernetes emulator on a free port, and the real kopf operator against it.

The emulator does server-side apply with field ownership (``applying.ApplyingEmulator``).

kopf logs in with a ``kopf.ConnectionInfo`` pointing at the emulator; see ``operator_harness``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import kmock
import kopf
import pytest
from applying import ApplyingEmulator
from operator_harness import Cluster, declare

from tidal_operator.config import OperatorConfig
from tidal_operator.handlers import register


@pytest.fixture
async def emulator() -> AsyncIterator[kmock.KubernetesEmulator]:
    async with ApplyingEmulator() as handler, kmock.Server(handler):
        declare(handler)
        yield handler


@pytest.fixture
def cluster(emulator: kmock.KubernetesEmulator) -> Cluster:
    return Cluster(emulator)


@pytest.fixture
def operator_config() -> OperatorConfig:
    """The operator's settings: fast resyncs, no /metrics (a test overrides this to scrape)."""
    return OperatorConfig(image="tidal:test", resync_interval=0.5, metrics_port=0)


@pytest.fixture
async def operator(
    emulator: kmock.KubernetesEmulator, cluster: Cluster, operator_config: OperatorConfig
) -> AsyncIterator[None]:
    """kopf running every tidal handler against the emulator, stopped after the test.

    kopf gets a thread and an event loop of its own: on stopping, it cancels every task of its
    loop that it did not start, which in the test's loop would include pytest's own. Before it
    stops, the test's custom resources are deleted (through the finalizer), so that no timer
    is left running: kopf waits 5 s for those.
    """
    registry = kopf.OperatorRegistry()
    server = str(emulator.url)
    register(
        registry,
        config=operator_config,
        login=lambda **_: kopf.ConnectionInfo(server=server),
    )
    stop, ready = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def run() -> None:
        coroutine = kopf.operator(
            registry=registry, clusterwide=True, standalone=True, stop_flag=stop, ready_flag=ready
        )
        try:
            asyncio.run(coroutine)
        except BaseException as exc:  # reported by the fixture's teardown
            failures.append(exc)

    thread = threading.Thread(target=run, name="kopf", daemon=True)
    thread.start()
    assert await asyncio.to_thread(ready.wait, 10), "kopf did not start within 10 s"
    yield
    await cluster.delete_custom()
    stop.set()
    await asyncio.to_thread(thread.join, 10)
    assert not thread.is_alive(), "kopf did not stop within 10 s"
    assert not failures, failures
