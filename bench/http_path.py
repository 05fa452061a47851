"""HTTP path benchmark: binary CloudEvent POST -> no-op handler -> 200, vs bare Starlette.

Both run under uvicorn (same loop, same HTTP parser, one worker, no access log), loaded in turn by
``wrk`` from a second process on loopback; rounds alternate so drift hits both alike. Prints the
requests per second of each and the ratio. Run: ``make bench`` or ``python -m bench.http_path``.
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
from pathlib import Path

from tests.support.servers import free_port, wait_for_port

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
wrk.headers["ce-id"] = "a7d3c1f2-0000-4000-8000-000000000001"
wrk.headers["ce-time"] = "2026-11-02T10:15:00Z"
"""


def start(target: list[str], port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PORT": str(port),
        "TIDAL_IDEMPOTENCY__BACKEND": "none",
        "TIDAL_LOG_LEVEL": "WARNING",
    }
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


def load(port: int, script: Path, *, seconds: int, connections: int, path: str = "/") -> float:
    """Requests per second ``wrk`` reaches on ``path``; any non-2xx answer fails the run."""
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
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
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"could not read wrk output:\n{out}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    bare_port, tidal_port = free_port(), free_port()
    procs = [
        start(uvicorn_cmd("bench.apps:bare", bare_port), bare_port),
        start(tidal_cmd(tidal_port), tidal_port),
    ]
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
            fh.write(WRK_SCRIPT)
        script = Path(fh.name)
        bare, tidal = [], []
        for _ in range(args.rounds):
            bare.append(load(bare_port, script, seconds=args.seconds, connections=args.connections))
            tidal.append(
                load(tidal_port, script, seconds=args.seconds, connections=args.connections)
            )
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
    b, t = statistics.median(bare), statistics.median(tidal)
    print(
        f"bare Starlette endpoint: {b:,.0f} req/s (rounds: {', '.join(f'{x:,.0f}' for x in bare)})"
    )
    print(
        f"tidal HTTP transport:    {t:,.0f} req/s (rounds: {', '.join(f'{x:,.0f}' for x in tidal)})"
    )
    print(f"ratio tidal / bare: {t / b:.2f} (target >= 0.80)")


if __name__ == "__main__":
    main()
