"""Cold-start benchmark: exec -> first 200 on ``/readyz``, tidal run vs a bare uvicorn app.

What a scale-from-zero service costs before its first event: each round starts ``tidal run
bench.apps:app`` (the defaults a user gets) and a bare Starlette app with a ``/readyz`` route under
uvicorn (uvloop, httptools), alternating which goes first, polls ``/readyz`` every 2 ms from
exec, and reads the process's peak resident memory (VmHWM) and CPU time once it answers.
Prints the medians and the ratios. Run: ``python -m bench.cold_start --rounds 10``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import time
from dataclasses import dataclass

from harness.servers import free_port

from bench.http_path import tidal_cmd, uvicorn_cmd
from bench.summary import Ratio

TICKS = os.sysconf("SC_CLK_TCK")
BARE = "bare uvicorn + Starlette"
TIDAL = "tidal run (defaults)"


@dataclass(frozen=True)
class Start:
    seconds: float
    cpu: float
    peak_mib: float


def _ready(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _peak_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure(command: list[str], port: int) -> Start:
    env = {**os.environ, "PORT": str(port)}
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not _ready(port):
            if proc.poll() is not None:
                raise RuntimeError(f"{command} exited with {proc.returncode}")
            if time.perf_counter() - started > 30:
                raise TimeoutError(f"{command} not ready in 30 s")
            time.sleep(0.002)
        return Start(time.perf_counter() - started, _cpu(proc.pid), _peak_mib(proc.pid))
    finally:
        proc.terminate()
        proc.wait(10)


def main(argv: list[str] | None = None) -> list[Ratio]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    contenders = {
        BARE: lambda port: uvicorn_cmd("bench.apps:bare", port),
        TIDAL: tidal_cmd,
    }
    results: dict[str, list[Start]] = {name: [] for name in contenders}
    for round_ in range(args.rounds):
        order = list(contenders) if round_ % 2 == 0 else list(reversed(contenders))
        for name in order:
            port = free_port()
            results[name].append(measure(contenders[name](port), port))
    base = results[BARE]
    print(f"{'contender':28} {'ready ms':>9} {'CPU ms':>8} {'peak MiB':>9}  x bare (ready, peak)")
    for name, starts in results.items():
        ready = statistics.median(s.seconds for s in starts)
        cpu = statistics.median(s.cpu for s in starts)
        peak = statistics.median(s.peak_mib for s in starts)
        ratio = ready / statistics.median(s.seconds for s in base)
        peak_ratio = peak / statistics.median(s.peak_mib for s in base)
        print(
            f"{name:28} {ready * 1000:9.0f} {cpu * 1000:8.0f} {peak:9.1f}  "
            f"{ratio:.2f}x, {peak_ratio:.2f}x"
        )
    return [
        Ratio("cold start", "exec -> ready, tidal run / bare uvicorn", ratio, "<=", 1.5),
        Ratio("cold start", "peak memory, tidal run / bare uvicorn", peak_ratio, "<=", 2.0),
    ]


if __name__ == "__main__":
    main()
