"""`tidal.serve_asgi`, the public server for an ingress's own ASGI app (the reference gateway's):
``ready`` once it listens, ``stopping`` at SIGTERM, the request in flight finished, a slow
client cut off at the header deadline."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from tests.support.servers import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_an_ingress_is_served_ready_then_drained_at_sigterm() -> None:
    port = free_port()
    env = {**os.environ, "TIDAL_PORT": str(port), "TIDAL_HEADER_TIMEOUT": "0.5"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.apps.ingress"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"  # printed once the socket listens
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text == "done"
        with socket.create_connection(("127.0.0.1", port)) as silent:
            silent.settimeout(5)
            assert silent.recv(1024).startswith(b"HTTP/1.1 408")  # uvicorn alone: no answer
        answer: dict[str, httpx.Response] = {}
        caller = threading.Thread(
            target=lambda: answer.update(
                slow=httpx.get(f"http://127.0.0.1:{port}/slow", timeout=10)
            )
        )
        caller.start()
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert proc.stdout.readline() == "stopping\n"
        caller.join(timeout=10)
        assert answer["slow"].text == "done"
        assert proc.wait(timeout=10) in (0, -signal.SIGTERM)
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
