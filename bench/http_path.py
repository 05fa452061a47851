"""HTTP path benchmark: binary CloudEvent POST -> no-op handler -> 200, vs bare Starlette.

Three servers under uvicorn (same loop, same HTTP parser, one worker, no access log), loaded in
turn by ``wrk`` from a second process on loopback, every request a new event id (a Lua counter),
rounds alternating so drift hits all alike: the bare Starlette endpoint parsing the same JSON,
``tidal run`` with the defaults a user gets (memory idempotency), and ``tidal run`` with
idempotency off. Prints requests per second, p99 latency and the ratios to the bare endpoint.
Run: ``make bench`` or ``python -m bench.http_path``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from harness.servers import free_port, wait_for_port

from bench.summary import Ratio

BODY = (
    '{"orderId": "ord-000123", "customer": "customer-7", "total": 129.5, '
    '"items": [{"sku": "A-1", "qty": 2}]}'
)
WRK_SCRIPT = f"""
wrk.method = "POST"
wrk.body = '{BODY}'
wrk.headers["content-type"] = "application/json"
wrk.headers["ce-specversion"] = "1.0"
wrk.headers["ce-type"] = "com.example.bench.v1"
wrk.headers["ce-source"] = "/bench"
wrk.headers["ce-time"] = "2026-11-02T10:15:00Z"
local run = tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000000))
local counter = 0
request = function()
  counter = counter + 1
  wrk.headers["ce-id"] = run .. "-" .. counter
  return wrk.format()
end
"""


def start(target: list[str], port: int, **environ: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PORT": str(port), "TIDAL_LOG_LEVEL": "WARNING", **environ}
    proc = subprocess.Popen(target, env=env, stdout=subprocess.DEVNULL)
    wait_for_port(port)
    return proc


def uvicorn_cmd(app: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
    ]


def tidal_cmd(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tidal.cli",
        "run",
        "bench.apps:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


class Load(NamedTuple):
    rate: float  # requests per second
    p99_ms: float
    cpu_us: float = 0.0  # the server's CPU per request (user + system)


def cpu_seconds(pid: int) -> float:
    """User + system CPU ``pid`` has used so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(
    port: int,
    script: Path,
    *,
    seconds: int,
    connections: int,
    path: str = "/",
    pid: int | None = None,
) -> Load:
    """What ``wrk`` reaches on ``path`` (and the CPU per request of the server ``pid``); any
    non-2xx answer fails the run."""
    before = 0.0 if pid is None else cpu_seconds(pid)
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"non-2xx answers during the benchmark:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", out, re.M)
    if rate is None or p99 is None:
        raise RuntimeError(f"could not read wrk output:\n{out}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    served = re.search(r"(\d+) requests in", out)
    cpu = 0.0
    if pid is not None and served is not None and int(served.group(1)):
        cpu = (cpu_seconds(pid) - before) / int(served.group(1)) * 1e6
    return Load(float(rate.group(1)), float(p99.group(1)) * scale, cpu)


def bare_cmd(port: int) -> list[str]:
    return uvicorn_cmd("bench.apps:bare", port)


CONTENDERS: dict[str, tuple[Callable[[int], list[str]], dict[str, str]]] = {
    # name -> (command for a port, extra environment)
    "bare Starlette endpoint": (bare_cmd, {}),
    "tidal run (defaults)": (tidal_cmd, {}),
    "tidal run, idempotency off": (tidal_cmd, {"TIDAL_IDEMPOTENCY__BACKEND": "none"}),
}


BEFORE = "tidal run (defaults), --before"


def main(argv: list[str] | None = None) -> list[Ratio]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--before",
        metavar="SRC",
        help="also run tidal (defaults) from this source tree, e.g. another worktree's src/",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    contenders = dict(CONTENDERS)
    if args.before:
        here = str(Path(__file__).resolve().parents[1])  # bench.apps
        path = os.pathsep.join([str(Path(args.before).resolve()), here])
        contenders[BEFORE] = (tidal_cmd, {"PYTHONPATH": path})
    ports = {name: free_port() for name in contenders}
    procs = {
        name: start(command(ports[name]), ports[name], **environ)
        for name, (command, environ) in contenders.items()
    }
    results: dict[str, list[Load]] = {name: [] for name in contenders}
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
            fh.write(WRK_SCRIPT)
        script = Path(fh.name)
        for round_ in range(args.rounds):
            names = list(contenders)
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                results[name].append(
                    load(
                        ports[name],
                        script,
                        seconds=args.seconds,
                        connections=args.connections,
                        pid=procs[name].pid,
                    )
                )
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait()
    return report(results)


def report(results: dict[str, list[Load]]) -> list[Ratio]:
    rates = {name: statistics.median(r.rate for r in loads) for name, loads in results.items()}
    p99s = {name: statistics.median(r.p99_ms for r in loads) for name, loads in results.items()}
    bare = "bare Starlette endpoint"
    cpus = {name: statistics.median(r.cpu_us for r in loads) for name, loads in results.items()}
    print(
        f"{'server':32} {'req/s':>8} {'p99 ms':>7} {'x bare':>7} {'p99 x bare':>10} "
        f"{'CPU us/req':>10}  rounds"
    )
    for name, loads in results.items():
        rounds = ", ".join(f"{r.rate:,.0f}" for r in loads)
        print(
            f"{name:32} {rates[name]:8,.0f} {p99s[name]:7.1f} {rates[name] / rates[bare]:7.2f} "
            f"{p99s[name] / p99s[bare]:10.2f} {cpus[name]:10.1f}  {rounds}"
        )
    defaults, off = "tidal run (defaults)", "tidal run, idempotency off"
    return [
        Ratio(
            "http",
            "req/s, tidal run (defaults) / bare Starlette",
            rates[defaults] / rates[bare],
            ">=",
            0.8,
        ),
        Ratio(
            "http",
            "p99, tidal run (defaults) / bare Starlette",
            p99s[defaults] / p99s[bare],
            "<=",
            2.0,
        ),
        Ratio(
            "http", "req/s, tidal run (idempotency off) / bare", rates[off] / rates[bare], ">=", 0.8
        ),
    ]


if __name__ == "__main__":
    main()
