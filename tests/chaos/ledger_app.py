"""The chaos test's worker App: each handled event appends one line to a ledger file.

The ledger (``TIDAL_TEST_LEDGER``) lives outside the workers and survives their deaths: a file
opened ``O_APPEND`` and written with one ``write`` per line, so lines from several processes never
interleave and a SIGKILL leaves whole lines only. A line is the side effect: JSON with the event
id, its partition key and per-key ``seq``, ``ctx.attempt``, the worker's pid and the wall time.
The handler never fails: every retry or dead letter the test sees comes from the
infrastructure it breaks (or from its poison record, which is no CloudEvent).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from functools import cache

from tidal import App, Context, DeliveryPolicy, Event

LATENCY = 0.2

app = App("chaos", policy=DeliveryPolicy.of(max_attempts=5, delay="PT0.2S", max_delay="PT1S"))


@cache
def ledger() -> int:
    return _append(os.environ["TIDAL_TEST_LEDGER"])


@cache
def starts() -> int:
    """Where each run notes its start, ``<id> <wall time>`` (``<ledger>.starts``): the chaos
    driver aims a Redis kill at handlers that have started and not yet made their effect."""
    return _append(os.environ["TIDAL_TEST_LEDGER"] + ".starts")


def _append(path: str) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


@app.on(type="com.example.chaos.v1")
async def effect(event: Event, ctx: Context) -> None:
    os.write(starts(), f"{event.id} {time.time()}\n".encode())
    await asyncio.sleep(LATENCY)  # a handler's I/O: keeps events in flight when faults strike
    line = {
        "id": event.id,
        "key": event.partitionkey,
        "seq": event.data["seq"],
        "attempt": ctx.attempt,
        "pid": os.getpid(),
        "t": time.time(),
    }
    os.write(ledger(), (json.dumps(line) + "\n").encode())
