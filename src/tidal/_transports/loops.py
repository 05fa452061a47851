"""Running a transport's main coroutine to completion on the fastest event loop installed.

uvloop when it is installed (the ``http`` extra brings it), else asyncio's own loop. Called by
the entry points of the long-running transports, which ``tidal run`` starts:
`tidal._transports.kafka.running.run` (the Kafka worker) and `tidal._transports.http.serving.run`
(the HTTP server).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_on_fastest_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on a new uvloop loop when uvloop is installed, else on asyncio's own, with
    the objects made so far frozen out of the garbage collector's generations."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None
    try:
        import uvloop
    except ImportError:
        factory = None
    else:
        factory = uvloop.new_event_loop
    # what start-up built (modules, the App, settings) lives as long as the process: out of the
    # collector's way, a full collection walks only what events allocate (shorter GC pauses)
    gc.freeze()
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
