"""Stopping a long-running command on SIGTERM or SIGINT: `stop_on_signals`.

``tidal outbox relay`` and ``tidal source s3-sqs`` wait on the event it returns; the job in
flight finishes, then the command exits.
"""

from __future__ import annotations

import asyncio
import signal
import threading


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (the running loop's handlers; outside the main
    thread, as when a test invokes the command, signals stay with the process)."""
    stop = asyncio.Event()
    if threading.current_thread() is threading.main_thread():
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    return stop
