"""Instructions per HTTP request of the app alone, counted by callgrind: immune to a busy machine.

`bench.http_path` times the servers under uvicorn and ``wrk``, which on a shared machine moves by
tens of % between rounds. This drives each ASGI app in process instead (the request of
``wrk``'s script, a new event id each time, straight to the app: no uvicorn, no sockets) under
valgrind's callgrind, twice (``--requests`` and three times as many, after a warm-up), and
prints the difference per request: the bare Starlette endpoint, ``tidal run``'s app with the
defaults (memory idempotency) and with idempotency off, and with ``--before SRC`` the defaults
of another source tree. Instructions are not time (cache misses, and valgrind runs SHA-256 in
software where the CPU has it in hardware), but they tell what a change to the path costs.
Run: ``python -m bench.http_instructions`` (needs valgrind).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.http_path import BODY

HEADERS = [
    (b"host", b"127.0.0.1:8080"),
    (b"content-type", b"application/json"),
    (b"ce-specversion", b"1.0"),
    (b"ce-type", b"com.example.bench.v1"),
    (b"ce-source", b"/bench"),
    (b"ce-time", b"2026-11-02T10:15:00Z"),
    (b"content-length", str(len(BODY)).encode()),
]


def _app(kind: str) -> Any:
    if kind == "bare":
        from bench.apps import bare

        return bare
    from bench.apps import app
    from tidal._settings import Settings
    from tidal._stores.factory import make_idempotency
    from tidal._transports.http.asgi import create_asgi_app
    from tidal._transports.http.serving import build_receiver

    settings = Settings()
    idempotency = None if kind == "off" else make_idempotency(settings.idempotency)
    return create_asgi_app(build_receiver(app, settings, session=None, idempotency=idempotency))


async def _drive(kind: str, requests: int) -> None:
    app, body = _app(kind), BODY.encode()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"answered {message['status']}")

    for n in range(500 + requests):  # the first 500: warm-up, in both counts
        headers = [*HEADERS, (b"ce-id", f"bench-{n}".encode())]
        scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
        await app({**scope, "query_string": b"", "root_path": ""}, receive, send)


def _count(kind: str, requests: int, pythonpath: str | None) -> int:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([pythonpath, str(Path(__file__).parents[1])])
    child = [sys.executable, "-m", "bench.http_instructions", "--child", kind, str(requests)]
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *child],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    found = re.search(r"Collected : (\d+)", out)
    if found is None:
        raise RuntimeError(f"no count from callgrind:\n{out[-2000:]}")
    return int(found.group(1))


def per_request(kind: str, requests: int, pythonpath: str | None = None) -> float:
    """Instructions per request of ``kind`` (the two counts run side by side: instructions do
    not depend on what else runs)."""
    with ThreadPoolExecutor(2) as pool:
        many = pool.submit(_count, kind, 3 * requests, pythonpath)
        few = pool.submit(_count, kind, requests, pythonpath)
        return (many.result() - few.result()) / (2 * requests)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--before", metavar="SRC", help="also count another tree's defaults")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        import uvloop

        uvloop.run(_drive(args.child[0], int(args.child[1])))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: apt-get install valgrind")
    rows: list[tuple[str, str, str | None]] = [
        ("bare Starlette endpoint", "bare", None),
        ("tidal (defaults)", "defaults", None),
        ("tidal, idempotency off", "off", None),
    ]
    if args.before:
        rows.append(("tidal (defaults), --before", "defaults", str(Path(args.before).resolve())))
    counts = {name: per_request(kind, args.requests, path) for name, kind, path in rows}
    bare = counts["bare Starlette endpoint"]
    for name, count in counts.items():
        print(f"{name:30} {count:10,.0f} instructions/request  x{count / bare:.2f} bare")


if __name__ == "__main__":
    main()
