"""Session fixtures: real servers on free ports, and factories for apps and events."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.servers import redis_server

from tidal.testing import ManualClock


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
