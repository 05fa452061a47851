"""A throwaway PostgreSQL cluster for the suite (Debian's server binaries, never port 5432).

`postgres_server` runs ``initdb`` into a temporary directory and ``postgres`` on a free port with
its socket in that directory, trust authentication on loopback only, and yields a libpq DSN.
PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user and
its commands run through ``runuser -u postgres --``; as anyone else they run as that user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from tests.support.servers import free_port, wait_for_port

__all__ = ["fresh_database", "pg_bin", "postgres_server"]


def pg_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<major>/bin`` that has ``initdb``, or None."""
    root = Path("/usr/lib/postgresql")
    found = sorted(root.glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


def _as_owner() -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


@contextmanager
def postgres_server() -> Iterator[str]:
    """initdb + postgres on a free loopback port; yields ``postgresql://postgres@...``."""
    binaries = pg_bin()
    if binaries is None:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="tidal-pg-"))
    data = workdir / "data"
    prefix = _as_owner()
    if prefix:
        shutil.chown(workdir, user="postgres")
    try:
        subprocess.run(
            [*prefix, str(binaries / "initdb"), "-D", str(data), "-U", "postgres",
             "-A", "trust", "--no-sync", "-E", "UTF8"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        with (workdir / "log").open("wb") as log:
            proc = subprocess.Popen(
                [*prefix, str(binaries / "postgres"), "-D", str(data), "-p", str(port),
                 "-h", "127.0.0.1", "-k", str(workdir), "-c", "fsync=off"],
                stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        try:
            wait_for_port(port, timeout=30)
            dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
            _wait_until_accepting(dsn, timeout=30)
            yield dsn
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_until_accepting(dsn: str, *, timeout: float) -> None:
    """The port opens while the server still answers "the database system is starting up"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(dsn, connect_timeout=5).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def fresh_database(server_dsn: str) -> str:
    """A new empty database on the server; returns its DSN (tests never share tables)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_dsn.rsplit("/", 1)[0] + f"/{name}"
