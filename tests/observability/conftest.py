"""Fixtures of the observability tests: a real Prometheus scraping real tidal processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.observability.prometheus_stack import Stack, running_stack


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Two ``tidal run`` services and an exporter process under load, scraped every second."""
    with running_stack() as running:
        yield running
