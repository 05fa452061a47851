"""Fixtures of the event-source tests: one moto server (S3 and SQS, as one AWS region) and a
bucket whose object-created notifications go to an SQS queue (`tests.support.s3notify`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.objectstore import S3Server, moto_server
from tests.support.s3notify import NotifiedBucket, notified_bucket


@pytest.fixture(scope="session")
def aws() -> Iterator[S3Server]:
    with moto_server("us-east-1") as server:
        yield server


@pytest.fixture
def uploads(aws: S3Server) -> NotifiedBucket:
    return notified_bucket(aws)
