"""Free ports, waiting for a listener, and ``redis-server`` on a free port (tests and bench)."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tidal.cli._devstack import free_port, redis_args, redis_binary

__all__ = ["free_port", "redis_server", "wait_for_port"]


def wait_for_port(port: int, *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@contextmanager
def redis_server() -> Iterator[str]:
    """Start ``redis-server`` on a free port with no persistence; yield its URL."""
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        args = [*redis_args(redis_binary(), port), "--dir", workdir]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=10)
