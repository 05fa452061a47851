"""Session fixtures: real servers on free ports, and factories for apps and events."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from tests.support.kafka import EXTERNAL_BOOTSTRAP, tansu_broker
from tests.support.postgres import fresh_database, postgres_server
from tests.support.servers import redis_server
from tests.support.tracing import Install, installed_tracers

from tidal.testing import ManualClock


@pytest.fixture(autouse=True)
def interruptible() -> None:
    """Ctrl-C as in a terminal: the tests that stop ``tidal dev`` send it SIGINT. A suite
    started in the background by a non-interactive shell (``cmd &``, as CI jobs often are)
    inherits SIGINT ignored (and a library restoring "the original" handler brings that back),
    and so would every process a test starts: a Python child keeps ignoring it, and
    ``tidal dev --reload`` (its supervisor) or a run not yet serving never stops. A handler of
    our own resets to the default action across exec; checked before every test."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A throwaway PostgreSQL cluster for the session (tests.support.postgres)."""
    with postgres_server() as dsn:
        yield dsn


@pytest.fixture
def database(postgres_dsn: str) -> str:
    """A new empty database on the session's cluster: its DSN."""
    return fresh_database(postgres_dsn)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A Kafka-protocol broker for the session: tansu on a free port, or the external Kafka
    that ``TIDAL_KAFKA_BOOTSTRAP`` names."""
    if EXTERNAL_BOOTSTRAP:
        yield EXTERNAL_BOOTSTRAP
        return
    with tansu_broker() as broker:
        yield broker.bootstrap


@pytest.fixture
def install() -> Iterator[Install]:
    """Installs tidal's tracer over an in-memory exporter at a given `Sampling`."""
    with installed_tracers() as installing:
        yield installing
