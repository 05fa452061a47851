"""What `tidal run` loads before it is ready: only what its transport needs (cold start).

A scale-from-zero service pays every import before its first event. The process runs with
``PYTHONPROFILEIMPORTTIME`` (the interpreter lists every module it imports on stderr), serves
until ``/readyz`` answers, and stops; the list must hold none of the data plane's clients.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.support.servers import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# top-level packages `tidal run` over HTTP must not import
HEAVY = ("boto3", "botocore", "cryptography", "aiokafka", "zstandard", "tidal_data", "aiohttp")
# what typed payloads (tidal._payloads) need, and an App without a model must not load
PAYLOADS = ("pydantic.type_adapter", "pydantic._internal._validate_call")


def imported_by_run(tmp_path: Path, **environ: str) -> set[str]:
    """The modules a `tidal run` of the benchmark's App imports up to its first ready answer."""
    port = free_port()
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1", "TIDAL_LOG_LEVEL": "WARNING", **environ}
    command = [sys.executable, "-m", "tidal.cli", "run", "bench.apps:app", "--port", str(port)]
    listing = tmp_path / f"imports-{port}.txt"
    with listing.open("wb") as stderr:  # a file: the listing outgrows a pipe's buffer
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stderr=stderr, stdout=subprocess.DEVNULL
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            raise AssertionError("tidal run was not ready within 30 s")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    text = listing.read_text()
    return set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", text, re.M))


def test_run_over_http_imports_no_data_plane_kafka_or_sink_client(tmp_path: Path) -> None:
    modules = imported_by_run(tmp_path)
    assert "tidal._transports.http.serving" in modules  # the listing is real
    loaded = sorted(m for m in modules if m.startswith(HEAVY))
    assert loaded == []


def test_run_of_an_app_without_models_loads_no_payload_validation(tmp_path: Path) -> None:
    modules = imported_by_run(tmp_path)
    assert "tidal._payloads" in modules  # the App module is there, its machinery is not
    assert sorted(m for m in modules if m.startswith(PAYLOADS)) == []


def test_run_with_k_sink_imports_the_http_client_it_needs(tmp_path: Path) -> None:
    # nothing listens there: the sink is only configured, never called
    with_sink = imported_by_run(tmp_path, K_SINK=f"http://127.0.0.1:{free_port()}/")
    assert "aiohttp" in with_sink
