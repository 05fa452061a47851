"""A real Prometheus scraping real tidal processes under load (the ``stack`` fixture)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
import pytest
from tests.support.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "charts" / "tidal" / "rules" / "tidal.rules.yaml"
TIDAL = [sys.executable, "-m", "tidal.cli"]


@dataclass(frozen=True)
class Stack:
    """Prometheus and the tidal processes it scrapes, after a load."""

    prometheus: str
    targets: dict[str, str]

    def query(self, expr: str) -> dict[str, object]:
        response = httpx.get(f"{self.prometheus}/api/v1/query", params={"query": expr}, timeout=10)
        body: dict[str, object] = response.json()
        return body


def _start(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        env={**os.environ, "TIDAL_LOG_LEVEL": "WARNING", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=60)  # a busy machine imports slowly
    except TimeoutError:
        proc.kill()
        raise
    return proc


def _tidal_run(reference: str, port: int) -> list[str]:
    return [*TIDAL, "run", reference, "--host", "127.0.0.1", "--port", str(port)]


def start_prometheus(workdir: Path, port: int, targets: list[str]) -> subprocess.Popen[bytes]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: run `make test`, which installs it")
    config = workdir / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{RULES}']\n"
        "scrape_configs:\n"
        "  - job_name: tidal\n"
        f"    static_configs: [{{targets: [{', '.join(repr(t) for t in targets)}]}}]\n"
    )
    args = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        _wait_ready(f"http://127.0.0.1:{port}", timeout=60)
    except TimeoutError:
        proc.kill()
        raise
    return proc


def _wait_ready(prometheus: str, *, timeout: float) -> None:
    """Until ``/-/ready`` answers 200: Prometheus listens before its storage is open, and until
    then its query API answers 503 ``Service Unavailable`` (seen on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{prometheus}/-/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"Prometheus at {prometheus} not ready after {timeout}s")


GATEWAY_TOKEN = "stack-token"
READING = (ROOT / "tests" / "services" / "samples" / "reading.json").read_bytes()


@contextmanager
def running_stack() -> Iterator[Stack]:
    """Three ``tidal run`` services (two stand-ins and the order saga), the gateway (publishing
    to one of them over HTTP) and an exporter process under load, scraped every second."""
    names = ("orders", "sink", "saga", "exporter", "gateway", "prometheus")
    ports = {name: free_port() for name in names}
    sink_url = f"http://127.0.0.1:{ports['sink']}/"
    procs = [
        _start(
            _tidal_run("tests.observability.apps.pipeline:sink", ports["sink"]),
            {},
            ports["sink"],
        ),
        _start(
            _tidal_run("tests.observability.apps.pipeline:orders", ports["orders"]),
            {"OBS_DEAD_LETTERS": sink_url},
            ports["orders"],
        ),
        _start(  # the order saga (its row): its steps' events go to the sink
            _tidal_run("services.saga.app:app", ports["saga"]),
            {"K_SINK": sink_url},
            ports["saga"],
        ),
        _start(
            [sys.executable, "-m", "tests.observability.apps.exporter"],
            {
                "TIDAL_OBSERVABILITY__METRICS_PORT": str(ports["exporter"]),
                "TIDAL_HOST": "127.0.0.1",
            },
            ports["exporter"],
        ),
        _start(
            [sys.executable, "-m", "services.gateway"],
            {
                "GATEWAY_TRANSPORT": "http",
                "GATEWAY_TOKENS": GATEWAY_TOKEN,
                "K_SINK": sink_url,
                "TIDAL_HOST": "127.0.0.1",
                "TIDAL_PORT": str(ports["gateway"]),
            },
            ports["gateway"],
        ),
    ]
    targets = {name: f"127.0.0.1:{port}" for name, port in ports.items() if name != "prometheus"}
    with tempfile.TemporaryDirectory() as workdir:
        procs.append(start_prometheus(Path(workdir), ports["prometheus"], list(targets.values())))
        try:
            stack = Stack(f"http://127.0.0.1:{ports['prometheus']}", targets)
            wait_until(stack, f"count(up == 1) == {len(targets)}", timeout=60)
            asyncio.run(_load(f"http://{targets['orders']}/", f"http://{targets['gateway']}"))
            asyncio.run(_saga_load(f"http://{targets['saga']}/"))
            # a rate needs two samples after the load: the saga is loaded last, so wait for them
            # (the alerts below can all be pending before its next scrape)
            saga = 'tidal_events_total{service="saga", subscription="compensate"}'
            wait_until(stack, f"count(rate({saga}[1m])) > 0", timeout=30)
            wait_until(stack, 'count(ALERTS{alertstate="pending"}) == 8', timeout=60)
            yield stack
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def wait_until(stack: Stack, expr: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = stack.query(expr)
        if result.get("status") == "success" and result["data"]["result"]:  # type: ignore[index]
            return
        time.sleep(0.5)
    alerts = stack.query("ALERTS")
    raise TimeoutError(f"no data for {expr!r} within {timeout}s; ALERTS: {alerts}")


def _event(event_type: str, n: int) -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": f"{event_type}-{n}",
        "ce-source": "/load",
        "ce-type": event_type,
        "content-type": "application/json",
    }


async def _load(url: str, gateway: str) -> None:
    """A warm-up so every series exists (and one event whose sync handler hangs), then a burst
    of each kind a second apart; readings through the gateway (some without credentials: 401)."""
    async with httpx.AsyncClient(timeout=30) as client:
        slots = asyncio.Semaphore(24)
        authorised = {"authorization": f"Bearer {GATEWAY_TOKEN}"}
        for n in range(12):
            headers = {"content-type": "application/json", **(authorised if n % 4 else {})}
            await client.post(f"{gateway}/telemetry", headers=headers, content=READING)

        async def post(event_type: str, n: int) -> None:
            async with slots:
                await client.post(url, headers=_event(event_type, n), content=b'{"total": 1}')

        kinds = {"order.v1": 60, "flaky.v1": 20, "report.v1": 8, "poison.v1": 40}
        kinds["com.amazonaws.s3.ObjectCreated:Put"] = 4  # what `tidal source` publishes
        await asyncio.gather(*(post(kind, n) for kind in kinds for n in range(2)))
        await post("stuck.v1", 0)  # one sync handler thread hangs for good (times out in 0.3 s)
        await asyncio.sleep(1.5)
        for second in range(4):
            batch = [
                post(kind, 1000 * (second + 1) + n)
                for kind, count in kinds.items()
                for n in range(count)
            ]
            batch += [post("order.v1", 1000 * (second + 1) + n) for n in range(10)]  # duplicates
            await asyncio.gather(*batch)
            await asyncio.sleep(0.5)


SAGA_ORDER: Final = {
    "customerId": "c-1",
    "items": [{"sku": "MUG-BLUE", "quantity": 1}],
    "total": 9.99,
    "currency": "EUR",
    "paymentToken": "tok_visa",
}


async def _saga_load(url: str) -> None:
    """Orders placed and orders out of stock (the saga's compensation), posted to the saga."""
    async with httpx.AsyncClient(timeout=30) as client:
        for n in range(6):
            placed = json.dumps({"orderId": f"o-{n}", **SAGA_ORDER}).encode()
            headers = _event("com.acme.shop.order.placed.v1", n)
            await client.post(url, headers=headers, content=placed)
            rejected = {
                "orderId": f"r-{n}",
                "shortages": [{"sku": "X", "requested": 2, "available": 0}],
            }
            headers = _event("com.acme.shop.inventory.rejected.v1", n)
            await client.post(url, headers=headers, content=json.dumps(rejected).encode())
