"""S3-compatible object stores for the suite: `harness.objectstore` (shared with bench/)."""

from harness.objectstore import (
    CREDENTIALS,
    S3Server,
    moto_server,
    new_bucket,
    s3_client,
    use_test_credentials,
)

__all__ = [
    "CREDENTIALS",
    "S3Server",
    "moto_server",
    "new_bucket",
    "s3_client",
    "use_test_credentials",
]
