"""S3-compatible object stores for the suite and bench/: moto in server mode, one per region.

`moto_server` starts ``python -m moto.server`` on a free port (S3 over real HTTP, as boto3
talks to AWS or MinIO; a process of its own keeps its work off the tests' GIL); `s3_client`
and `new_bucket` give a boto3 client and a fresh bucket in a region. Used by tests/archive and
bench/archive_path.py; general enough for any test that needs a bucket.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3  # type: ignore[import-untyped]

from harness.servers import free_port, wait_for_port

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(frozen=True)
class S3Server:
    """A running moto server standing for one region's store."""

    endpoint: str
    region: str

    def client(self) -> Any:
        return s3_client(self.endpoint, self.region)

    def new_bucket(self, prefix: str = "tidal") -> str:
        return new_bucket(self.client(), self.region, prefix)


@contextmanager
def moto_server(region: str = "us-east-1") -> Iterator[S3Server]:
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield S3Server(f"http://127.0.0.1:{port}", region)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def s3_client(endpoint: str, region: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def new_bucket(client: Any, region: str, prefix: str = "tidal") -> str:
    """A new, empty bucket of its own in ``region``."""
    bucket = f"{prefix}-{uuid.uuid4().hex[:12]}"
    if region == "us-east-1":
        client.create_bucket(Bucket=bucket)
    else:
        client.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
        )
    return bucket


def use_test_credentials() -> None:
    """Put moto's test credentials in the environment (the data plane reads them there)."""
    os.environ.update(CREDENTIALS)
