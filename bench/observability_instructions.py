"""Instructions per HTTP request that tracing adds, counted by callgrind: immune to a busy machine.

`bench.observability_cost` times CPU, which a machine shared with other work inflates by tens
of % from one turn to the next. This counts the instructions (valgrind's callgrind, every thread
of the process) that the HTTP server's own per-request work executes in process (the ASGI app
`tidal run` serves, called with the request ``wrk`` sends, as ``--path asgi`` does) for each
contender: off, and tracing at ``parentbased_traceidratio`` 0, 1 % and always (``all``),
exporting over OTLP to a collector in the parent process. Each contender runs in a child under
callgrind, whose counts the parent zeroes after a warm-up and dumps after ``--events`` requests
and the exporter's final flush (``callgrind_control`` on that child's pid); the total over the
count is its instructions per request. Then:

- the unsampled path: ratio 0 over off;
- a sampled request: ``all`` over ratio 0 (its receive and handle spans and their export), of
  which the event loop's share is ``spans`` (all sampled, no exporter) over ratio 0, the rest
  the exporter's (OTLP encoding and the POST, in batches of 512);
- 1 % as measured, and as the two predict (unsampled + 1 % of a sampled request).

Instructions are not time (a sampled request among unsampled ones runs with cold caches), but
they rank and size the parts without noise. ``PYTHONHASHSEED`` is fixed, so the same requests
are sampled on every run. ``--path dispatch`` counts the Kafka worker's per-record work
instead (decode and `Dispatcher.attempt`, no broker: one handle span per sampled record).
Needs valgrind (``apt-get install valgrind``).
Run: ``python -m bench.observability_instructions --events 3000`` (``--path dispatch``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Coroutine, MutableMapping
from pathlib import Path
from typing import Any

from harness.otlp import otlp_collector

RATIOS = {"off": None, "0": 0.0, "0.01": 0.01, "all": 1.0, "spans": 1.0}
UNEXPORTED = "spans"  # all sampled, no exporter: the spans' cost on the event loop alone
WARM_UP = 300


def child(key: str, events: int, path: str) -> None:
    """``events`` requests (or Kafka records) with contender ``key``'s tracer installed,
    between two lines on stdout that the parent answers on stdin: ``warm`` (after the warm-up:
    it zeroes the counts) and ``done`` (after the last one and the exporter's flush: it dumps
    them)."""
    from tidal.observability import _hooks as hooks
    from tidal.observability._configuring import build

    def tracer_at(ratio: float, exported: bool = True) -> Any:
        environ = {  # spans wait for the final flush: none dropped, none exported early
            **os.environ,
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": str(ratio),
            "OTEL_BSP_MAX_QUEUE_SIZE": "1000000",
            "OTEL_BSP_SCHEDULE_DELAY": "100000000",
        }
        if not exported:
            environ["OTEL_TRACES_EXPORTER"] = ""  # `build` adds no span processor
        return build(service="bench", version="bench", environ=environ)[1]

    ratio = RATIOS[key]
    tracer = None if ratio is None else tracer_at(ratio, exported=key != UNEXPORTED)
    run = _http_run() if path == "http" else _dispatch_run(3 * WARM_UP + events)
    # warm-up: every contender first runs sampled requests, so the SDK's and the exporter's
    # code is as warm (imported, its bytecode specialised) as in a server that has traced for
    # a while; a 1 % contender would otherwise pay that in its few sampled requests
    for first, warming in ((0, tracer_at(1.0)), (WARM_UP, tracer)):
        hooks.install(warming)
        asyncio.run(run(first, 2 * WARM_UP if warming is tracer else WARM_UP))
        if warming is not None:
            warming._tracer.span_processor.force_flush()
    print("warm", flush=True)
    sys.stdin.readline()
    asyncio.run(run(3 * WARM_UP, events))
    if tracer is not None:
        tracer._tracer.span_processor.force_flush()
    print("done", flush=True)
    sys.stdin.readline()
    hooks.install(None)


Run = Callable[[int, int], Coroutine[Any, Any, None]]


def _http_run() -> Run:
    """Requests ``first`` to ``first + count`` to the ASGI app `tidal run` serves."""
    from bench.apps import app
    from bench.http_path import BODY
    from tidal._settings import Settings
    from tidal._transports.http.asgi import create_asgi_app
    from tidal._transports.http.serving import build_receiver

    served = create_asgi_app(build_receiver(app, Settings(), session=None, idempotency=None))
    body = {"type": "http.request", "body": BODY.encode(), "more_body": False}
    head = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BODY)).encode()),
        (b"ce-specversion", b"1.0"),
        (b"ce-type", b"com.example.bench.v1"),
        (b"ce-source", b"/bench"),
        (b"ce-time", b"2026-11-02T10:15:00Z"),
    ]

    async def receive() -> dict[str, Any]:
        return body

    async def send(message: MutableMapping[str, Any]) -> None:
        return None

    async def run(first: int, count: int) -> None:
        for n in range(first, first + count):
            headers = [*head, (b"ce-id", b"%d" % n)]
            scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
            await served(scope, receive, send)

    return run


def _dispatch_run(total: int) -> Run:
    """The Kafka worker's per-record work without the broker, as ``--path dispatch`` of
    `bench.observability_cost` does: decode binary-mode records, then `Dispatcher.attempt`
    (ids numbered, so the same records are sampled on every run)."""
    from bench import kafka_path
    from tidal._bindings.kafka import from_consumed
    from tidal._dispatching import Dispatcher

    records = [
        (key, value, [("ce_id", b"%d" % n) if h == "ce_id" else (h, v) for h, v in headers])
        for n, (key, value, headers) in enumerate(kafka_path.records(total, 1000))
    ]
    dispatcher = Dispatcher(kafka_path.app)
    sub = dispatcher.app.subscription("noop")

    async def run(first: int, count: int) -> None:
        for key, value, headers in records[first : first + count]:
            await dispatcher.attempt(sub, from_consumed(headers, key, value))

    return run


def counted(key: str, events: int, collector_url: str, path: str = "http") -> int:
    """Instructions of contender ``key``'s ``events`` requests (and their export) in a child
    process under callgrind: zeroed after the warm-up, dumped after the flush."""
    environ = {**os.environ, "PYTHONHASHSEED": "1", "OTEL_EXPORTER_OTLP_ENDPOINT": collector_url}
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        proc = subprocess.Popen(
            [
                *("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"),
                *(sys.executable, "-m", "bench.observability_instructions"),
                *("--child", key, "--events", str(events), "--path", path),
            ],
            env=environ,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        try:
            for said, command in (("warm", "--zero"), ("done", "--dump=measured")):
                line = proc.stdout.readline().strip()
                if line != said:
                    raise RuntimeError(f"the child said {line!r}, not {said!r}")
                # this child's pid only: without one, callgrind_control acts on every
                # callgrind process of the machine
                _control(command, proc.pid)
                proc.stdin.write("\n")
                proc.stdin.flush()
        finally:
            proc.stdin.close()
            proc.wait()
        return _measured(Path(folder))


def _control(command: str, pid: int) -> None:
    if pid <= 0:
        raise ValueError(f"not a child's pid: {pid}")
    subprocess.run(["callgrind_control", command, str(pid)], check=True, capture_output=True)


def _measured(folder: Path) -> int:
    """The instruction total of the dump ``--dump=measured`` wrote."""
    for dump in sorted(folder.glob("callgrind.out*")):
        text = dump.read_text(errors="replace")
        if "measured" in text:
            found = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            if found is not None:
                return int(found.group(1))
    raise RuntimeError(f"no dump named 'measured' in {sorted(folder.iterdir())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--only", nargs="+", choices=list(RATIOS), default=list(RATIOS))
    parser.add_argument(
        "--path",
        choices=["http", "dispatch"],
        default="http",
        help="http: the ASGI app per request; dispatch: the Kafka worker's work per record",
    )
    parser.add_argument("--child", choices=list(RATIOS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.events, args.path)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: apt-get install valgrind")
    per_request: dict[str, float] = {}
    with otlp_collector(keep=False) as collector:
        for key in args.only:
            per_request[key] = counted(key, args.events, collector.url, args.path) / args.events
            print(f"{key:5s} {per_request[key]:12,.0f} instructions / request", flush=True)
    report(per_request)


def report(per_request: dict[str, float]) -> None:
    off = per_request.get("off")
    if off is None:
        return
    for key, value in per_request.items():
        print(f"{key:5s} {value - off:+12,.0f} over off ({100 * (value / off - 1):+5.1f} %)")
    if "0" in per_request and "all" in per_request:
        unsampled = per_request["0"] - off
        sampled = per_request["all"] - per_request["0"]
        print(f"unsampled path {unsampled:,.0f}; a sampled request {sampled:,.0f} more")
        if UNEXPORTED in per_request:
            spans = per_request[UNEXPORTED] - per_request["0"]
            print(f"  of which spans on the event loop {spans:,.0f}, export {sampled - spans:,.0f}")
        print(f"1 % predicted: {unsampled + 0.01 * sampled:+,.0f} over off")


if __name__ == "__main__":
    main()
