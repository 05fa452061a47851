"""The `tidal` command as users run it: `run` (with a graceful SIGTERM), `send` and `dev`."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TIDAL = [sys.executable, "-m", "tidal.cli"]


def serve(reference: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "TIDAL_SHUTDOWN_GRACE": "20", "TIDAL_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(
        [*TIDAL, "run", reference, "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT, env=env
    )
    wait_for_port(port)
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture
def slow_server() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    proc, url = serve("tests.integration.apps.slow:app")
    yield proc, url
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_sigterm_finishes_the_in_flight_event_before_exit(
    slow_server: tuple[subprocess.Popen[bytes], str],
) -> None:
    proc, url = slow_server
    result: dict[str, httpx.Response] = {}
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "s1",
        "ce-source": "/t",
        "ce-type": "slow",
        "content-type": "application/json",
    }

    def call() -> None:
        result["response"] = httpx.post(
            url, content=b'{"seconds": 1.5}', headers=headers, timeout=30
        )

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    caller.join(timeout=30)
    assert proc.wait(timeout=30) in (
        0,
        -signal.SIGTERM,
    )  # uvicorn re-raises the signal once drained
    response = result["response"]
    assert response.status_code == 200
    assert response.headers["ce-type"] == "slow.done"


def test_send_posts_an_event_and_prints_the_answer(
    slow_server: tuple[subprocess.Popen[bytes], str],
) -> None:
    _, url = slow_server
    out = subprocess.run(
        [
            *TIDAL,
            "send",
            url,
            "--type",
            "slow",
            "--source",
            "/cli",
            "--id",
            "c1",
            "--data",
            '{"seconds": 0}',
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.startswith("200 OK (event id c1)")
    assert out.stdout.splitlines()[1].startswith("reply slow.done (id ")  # the reply's type
    assert json.loads(out.stdout.splitlines()[2]) == {"for": "c1"}


def test_send_says_what_became_of_the_event(
    slow_server: tuple[subprocess.Popen[bytes], str],
) -> None:
    """Issue 18, finding 5: a bare "202 Accepted" did not say filtered from dead-lettered."""
    _, url = slow_server
    args = ["--source", "/cli", "--id", "n1", "--data", '{"seconds": 0}']
    filtered = subprocess.run(
        [*TIDAL, "send", url, "--type", "nobody.listens", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert filtered.stdout.splitlines() == [
        "204 No Content (event id n1): filtered, no subscription's filters matched it"
    ]
    handled = subprocess.run(
        [*TIDAL, "send", url, "--type", "slow", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert handled.stdout.startswith("200 OK (event id n1): handled\n")


def test_send_from_a_file_in_structured_mode(
    slow_server: tuple[subprocess.Popen[bytes], str], tmp_path: Path
) -> None:
    _, url = slow_server
    path = tmp_path / "event.json"
    path.write_text(
        json.dumps(
            {
                "specversion": "1.0",
                "id": "f1",
                "source": "/file",
                "type": "slow",
                "data": {"seconds": 0},
            }
        )
    )
    out = subprocess.run(
        [*TIDAL, "send", url, "--file", str(path), "--mode", "structured"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "200 OK (event id f1)" in out.stdout


def test_send_reports_a_client_error_and_exits_non_zero(
    slow_server: tuple[subprocess.Popen[bytes], str],
) -> None:
    _, url = slow_server
    out = subprocess.run(
        [*TIDAL, "send", url + "/missing", "--type", "slow", "--source", "/cli"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert out.stdout.startswith("404")


def test_run_rejects_something_that_is_not_an_app() -> None:
    out = subprocess.run(
        [*TIDAL, "run", "json:dumps"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode != 0
    assert "is not a tidal App" in out.stderr


def table_rows(text: str) -> dict[str, list[int]]:
    """The summary table's rows: subscription -> counts (received, handled, ...)."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 7 and cells[1].isdigit():
            rows[cells[0]] = [int(c) for c in cells[1:]]
    return rows


def test_dev_runs_the_reference_services_with_traffic_through_the_gateway() -> None:
    out = subprocess.run(
        [*TIDAL, "dev", "--events", "600", "--rate", "0", "--seed", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "cdc, files, fleet, gateway, orders, saga on the memory transport" in out.stdout
    rows = table_rows(out.stdout)
    for subscription in (
        "telemetry",
        "notify",
        "maintenance",
        "inventory",
        "loyalty",
        "receipts",
        "high-value",
        "payments",
        "validate",
        "csv",
        "images",
        "outbox",
        "debezium",
        "reserve",
        "charge",
        "ship",
        "complete",
        "compensate",
        "deadlines",
    ):
        assert rows[subscription][1] > 0, (subscription, out.stdout)  # handled
    assert rows["inventory"][0] == rows["loyalty"][0] == rows["receipts"][0]  # fan-out
    # four demo streams take turns: the gateway's requests, the files service's uploads, cdc's
    # change records and the saga's orders (600 events: 150 requests each)
    assert "gateway answered 150 request(s):" in out.stdout
    assert "x 202" in out.stdout
    assert "dead-lettered" in out.stdout
    assert "unknown vehicle" in out.stdout or "does not equal the sum" in out.stdout
    assert rows["outbox"][4] > 0  # a reading that is not a number, dead-lettered alone
    assert "\ndead-letter  " in out.stdout  # live, as it happened
    assert rows["csv"][3] == 1  # the throttled read (services/files/demo.py), retried once
    assert rows["reserve"][4] > 0  # an order without its card token
    assert rows["complete"][1] > 0  # orders completed ...
    assert rows["compensate"][1] > 0  # ... and cancelled


def test_the_memory_demo_shows_a_retry_and_its_success_whatever_the_seed() -> None:
    """Issue 18, finding 9: the memory demo never showed a retry. S3 throttles the files demo's
    first CSV read (503 SlowDown, services/files/demo.py): one retry, then the read, both live."""
    out = subprocess.run(
        [*TIDAL, "dev", "--events", "30", "--rate", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    retry = re.search(
        r"^retry +csv: com\.acme\.files\.file\.validated\.v1 (\S+) attempt 1 failed "
        r"\(RetryableError: reading s3://acme-uploads/upload_batch \d+\.csv failed: SlowDown\)",
        out.stdout,
        re.MULTILINE,
    )
    assert retry is not None, out.stdout
    success = f"handled      csv: com.acme.files.file.validated.v1 {retry.group(1)} on attempt 2"
    assert success in out.stdout
    assert out.stdout.index(success) > retry.start()
    assert table_rows(out.stdout)["csv"][3] == 1  # retried


def test_dev_stops_cleanly_on_ctrl_c_with_a_summary() -> None:
    proc = subprocess.Popen(
        [*TIDAL, "dev", "--rate", "500"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the banner: the loop is running
    assert "on the memory transport" in first
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "event(s) dead-lettered" in out
    assert "Traceback" not in err


def dev_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TIDAL, "dev", "--events", "300", "--rate", "0", "--seed", "5", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_dev_on_kafka_and_redis_handles_what_the_memory_run_handles() -> None:
    """The same seeded demo traffic on tansu + Redis ends with the counts of the memory run,
    and the broker and Redis the command started are gone when it exits."""
    on_kafka = dev_run("--kafka")
    assert on_kafka.returncode == 0, on_kafka.stderr
    banner = re.search(
        r"on Kafka at 127\.0\.0\.1:(\d+) and Redis at redis://127\.0\.0\.1:(\d+)/0", on_kafka.stdout
    )
    assert banner is not None, on_kafka.stdout
    assert "started tansu and redis-server for this run" in on_kafka.stdout
    in_memory = dev_run()
    assert in_memory.returncode == 0, in_memory.stderr
    kafka_rows, memory_rows = table_rows(on_kafka.stdout), table_rows(in_memory.stdout)
    assert set(kafka_rows) == set(memory_rows) >= {"telemetry", "inventory", "loyalty", "receipts"}
    for subscription, counts in memory_rows.items():
        handled, dead = kafka_rows[subscription][1], kafka_rows[subscription][4]
        assert (handled, dead) == (counts[1], counts[4]), (subscription, on_kafka.stdout)
        assert handled > 0, subscription
    assert "gateway answered 75 request(s)" in on_kafka.stdout  # beside uploads, changes, orders
    assert "Traceback" not in on_kafka.stderr
    for port in map(int, banner.groups()):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_dev_on_kafka_with_a_missing_broker_binary_says_what_to_install(tmp_path: Path) -> None:
    env = {**os.environ, "CALF_TANSU_BIN": str(tmp_path / "no-tansu")}
    out = subprocess.run(
        [*TIDAL, "dev", "--kafka", "--events", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "could not find the tansu broker" in out.stderr
    assert "--bootstrap-servers" in out.stderr


def test_dev_on_kafka_with_a_redis_that_does_not_answer_fails_naming_the_option(
    kafka_bootstrap: str,
) -> None:
    """It used to run, dead-letter or drop every event, and exit 0 having handled nothing."""
    redis_url = f"redis://default:PASSWORD@127.0.0.1:{free_port()}/0"  # nothing listens there
    kafka = ("--bootstrap-servers", kafka_bootstrap)
    out = subprocess.run(
        [
            *TIDAL,
            "dev",
            "--kafka",
            "--events",
            "5",
            "--rate",
            "0",
            *kafka,
            "--redis-url",
            redis_url,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1, out.stdout
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, out.stderr
    assert "Redis at redis://default:***@127.0.0.1" in errors[0]
    assert "--redis-url" in errors[0]
    assert "PASSWORD" not in out.stderr + out.stdout
    assert "Traceback" not in out.stderr


def test_dev_on_kafka_stops_on_ctrl_c_and_takes_its_servers_down() -> None:
    proc = subprocess.Popen(
        [*TIDAL, "dev", "--kafka", "--rate", "100"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    ports = re.findall(r"127\.0\.0\.1:(\d+)", banner)
    assert len(ports) == 2, banner
    for line in proc.stdout:  # plain progress lines every 2 s once the groups have joined
        if line.startswith("published") and "gateway answered" in line:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "event(s) dead-lettered" in out
    assert "Traceback" not in err
    for port in map(int, ports):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
