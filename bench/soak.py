"""Soak: resident memory of `tidal run` over time, HTTP and Kafka, with the defaults a user gets.

Two servers run side by side for ``--minutes``, each as ``tidal run`` runs it with no settings
(memory idempotency, metrics on): the HTTP server (`bench.apps:app`) loaded by ``wrk`` (every
request a new event id, `bench.http_path`'s script), and the Kafka worker
(`bench.kafka_path:app`, ``--transport kafka``) consuming a topic this process keeps producing
new events to (``--rate`` a second) on a tansu broker. Every ``--every`` seconds it prints each
process's resident memory (``VmRSS``) and the events it has taken so far; at the end, the
growth from the end of the first quarter (the idempotency store is full by then: 100,000
records) to the end. Run: ``python -m bench.soak --minutes 10``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import uvloop
from aiokafka import AIOKafkaProducer
from harness.servers import free_port

from bench.http_path import WRK_SCRIPT, start, tidal_cmd
from bench.kafka_path import broker, new_topic

TOPIC_PARTITIONS = 4


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (``VmRSS`` of ``/proc/<pid>/status``)."""
    found = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return 0.0 if found is None else int(found.group(1)) / 1024


@contextlib.contextmanager
def kafka_worker(bootstrap: str, topic: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "TIDAL_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "TIDAL_KAFKA__TOPICS": topic,
        "TIDAL_KAFKA__GROUP_ID_PREFIX": f"soak-{uuid.uuid4().hex[:8]}",
        "TIDAL_KAFKA__IDEMPOTENT_PRODUCER": "false",  # tansu: see tests/support/kafka.py
        "TIDAL_OBSERVABILITY__METRICS_PORT": str(free_port()),
        "TIDAL_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "tidal.cli", "run", "--transport", "kafka"]
    proc = subprocess.Popen([*command, "bench.kafka_path:app"], env=env)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(30)


async def produce(bootstrap: str, topic: str, rate: int, sent: list[int]) -> None:
    """New binary-mode events, ``rate`` a second in batches of a tenth, until cancelled."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    run, i = uuid.uuid4().hex[:8], 0
    try:
        while True:
            tick = time.monotonic()
            pending = []
            for _ in range(max(1, rate // 10)):
                headers = [
                    ("ce_specversion", b"1.0"),
                    ("ce_id", f"{run}-{i}".encode()),
                    ("ce_source", b"/soak"),
                    ("ce_type", b"com.example.bench.v1"),
                    ("content-type", b"application/json"),
                ]
                value = json.dumps({"orderId": f"ord-{i:08d}", "total": 129.5}).encode()
                key = f"key-{i % 1000}".encode()
                pending.append(await producer.send(topic, value, key=key, headers=headers))
                i += 1
            await asyncio.gather(*pending)
            sent[0] = i
            await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
    finally:
        await producer.stop()


async def http_load(port: int, script: Path, until: float, served: list[int]) -> None:
    """``wrk`` (1 thread, 16 connections) in 10-second runs until ``until``."""
    while time.monotonic() < until:
        seconds = max(1, min(10, int(until - time.monotonic())))
        proc = await asyncio.create_subprocess_exec(
            "wrk",
            "-t1",
            "-c16",
            f"-d{seconds}s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/",
            stdout=asyncio.subprocess.PIPE,
        )
        out = (await proc.communicate())[0].decode()
        if "Non-2xx" in out:
            raise RuntimeError(f"non-2xx answers during the soak:\n{out}")
        found = re.search(r"(\d+) requests in", out)
        served[0] += int(found.group(1)) if found else 0


async def soak(args: argparse.Namespace) -> None:
    port = free_port()
    http = start(tidal_cmd(port), port)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(WRK_SCRIPT)
    try:
        with broker() as bootstrap:
            topic = await new_topic(bootstrap, "soak", TOPIC_PARTITIONS)
            with kafka_worker(bootstrap, topic) as worker:
                await run(args, http.pid, worker.pid, port, Path(fh.name), bootstrap, topic)
    finally:
        http.terminate()
        http.wait()


async def run(
    args: argparse.Namespace,
    http_pid: int,
    kafka_pid: int,
    port: int,
    script: Path,
    bootstrap: str,
    topic: str,
) -> None:
    started = time.monotonic()
    until = started + args.minutes * 60
    served, sent = [0], [0]
    tasks = [
        asyncio.create_task(http_load(port, script, until, served)),
        asyncio.create_task(produce(bootstrap, topic, args.rate, sent)),
    ]
    samples: list[tuple[float, float, int, float, int]] = []
    print(
        f"{'minute':>6} {'HTTP RSS MiB':>12} {'HTTP requests':>13} {'Kafka RSS MiB':>13} "
        f"{'Kafka produced':>14}",
        flush=True,
    )
    try:
        while (now := time.monotonic()) < until:
            await asyncio.sleep(min(args.every, until - now))
            if any(t.done() for t in tasks):
                for t in tasks:
                    if t.done() and t.exception():
                        raise t.exception()  # type: ignore[misc]
            sample = (
                (time.monotonic() - started) / 60,
                rss_mib(http_pid),
                served[0],
                rss_mib(kafka_pid),
                sent[0],
            )
            samples.append(sample)
            print(
                f"{sample[0]:6.1f} {sample[1]:12.1f} {sample[2]:13,} {sample[3]:13.1f} "
                f"{sample[4]:14,}",
                flush=True,
            )
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    quarter = next((s for s in samples if s[0] >= args.minutes / 4), samples[0])
    last = samples[-1]
    print(
        f"RSS from minute {quarter[0]:.1f} to {last[0]:.1f}: HTTP {quarter[1]:.1f} -> "
        f"{last[1]:.1f} MiB ({last[1] - quarter[1]:+.1f}), Kafka {quarter[3]:.1f} -> "
        f"{last[3]:.1f} MiB ({last[3] - quarter[3]:+.1f})"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--rate", type=int, default=1000, help="Kafka events produced a second")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    uvloop.run(soak(args))


if __name__ == "__main__":
    main()
