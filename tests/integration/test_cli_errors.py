"""``tidal run`` against servers that are down or lack a feature: one ``Error:`` line, no traceback.

Issue 18 item 4: a Kafka broker that is down was 48 lines of traceback, tansu without
``TIDAL_KAFKA__IDEMPOTENT_PRODUCER=false`` 59 lines ending ``UnknownError``. Item 1: a crashing
handler logged no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.support.kafka import EXTERNAL_BOOTSTRAP
from tests.support.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration

CRASHING = """\
from tidal import App, Event

app = App("vip")


@app.on(type="com.acme.order.v1")
async def vip(event: Event) -> None:
    return downstream_busy()
"""


def tidal_run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tidal.cli", "run", *args],
        cwd=cwd,
        env={**os.environ, "TIDAL_OBSERVABILITY__METRICS_PORT": "0", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "vip.py").write_text(CRASHING)
    return tmp_path


def errors_of(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "Unclosed" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


def test_a_kafka_broker_that_is_down_is_one_error_line(project: Path) -> None:
    down = f"127.0.0.1:{free_port()}"
    result = tidal_run(
        project, "vip:app", "--transport", "kafka", TIDAL_KAFKA__BOOTSTRAP_SERVERS=down
    )
    (error,) = errors_of(result)
    assert f"cannot reach the Kafka broker at {down}" in error
    assert "TIDAL_KAFKA__BOOTSTRAP_SERVERS" in error


@pytest.mark.skipif(EXTERNAL_BOOTSTRAP is not None, reason="real Kafka has idempotent producers")
def test_tansu_with_an_idempotent_producer_names_the_setting(
    project: Path, kafka_bootstrap: str
) -> None:
    result = tidal_run(
        project, "vip:app", "--transport", "kafka", TIDAL_KAFKA__BOOTSTRAP_SERVERS=kafka_bootstrap
    )
    (error,) = errors_of(result)
    assert "TIDAL_KAFKA__IDEMPOTENT_PRODUCER=false" in error
    assert "tansu" in error


def test_a_crashing_handler_logs_its_traceback(project: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tidal.cli", "run", "./vip.py", "--port", str(port)],
        cwd=project,
        env={**os.environ, "TIDAL_HOST": "127.0.0.1"},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port)
        headers = {
            "ce-specversion": "1.0",
            "ce-id": "o-1",
            "ce-source": "/pos",
            "ce-type": "com.acme.order.v1",
            "content-type": "application/json",
        }
        response = httpx.post(f"http://127.0.0.1:{port}/", content=b"{}", headers=headers)
        assert response.status_code == 503
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert '"event_id": "o-1"' in stderr  # not a terminal: JSON lines
    assert "Traceback (most recent call last)" in stderr
    assert "NameError: name 'downstream_busy' is not defined" in stderr
    assert '"message": "app vip (http): 1 subscription(s)"' in stderr


def test_a_redis_that_is_down_is_one_error_line_at_start(project: Path) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    result = tidal_run(
        project,
        "vip:app",
        TIDAL_IDEMPOTENCY__BACKEND="redis",
        TIDAL_IDEMPOTENCY__REDIS_URL=down,
    )
    (error,) = errors_of(result)
    assert f"cannot reach Redis at {down}" in error
    assert "TIDAL_IDEMPOTENCY__REDIS_URL" in error


def test_a_running_redis_passes_the_start_up_check(redis_url: str) -> None:
    from tidal._settings import Settings
    from tidal.cli._run import check_redis

    check_redis(Settings(idempotency={"backend": "redis", "redis_url": redis_url}))


def test_a_bad_tracing_variable_is_one_error_line(project: Path) -> None:
    result = tidal_run(project, "vip:app", OTEL_TRACES_EXPORTER="zipkin")
    (error,) = errors_of(result)
    assert error == "Error: OTEL_TRACES_EXPORTER='zipkin': tidal supports otlp, console"
