"""Failures that end a data-plane run, each with the reason its run result reports.

`RunFailure` is the data plane's own root, apart from the runtime's `tidal.TidalError` on
purpose: those classify a handler's failure for delivery (retry it or not), these end a ``tidal
archive | backup | restore | replay | dlq`` run. Their ``reason`` is a wire value, the CamelCase
``error.reason`` of the ``tidal.dev/run-result/v1`` the operator reads into its conditions
(docs/operator.md, "Data plane", lists them), so each class states its own rather than deriving
it from its name (renaming a class must not change what the operator sees); ``reason=`` names a
finer one for one failure (``StoreNoSuchBucket``, ``PartitionCountDiffers``). Raised throughout
`tidal_data`; the CLI (`tidal_data.cli.shared`) turns them into a failed run result and a
non-zero exit.
"""

from __future__ import annotations


class RunFailure(Exception):
    """A failure that ends a run, with the reason its result reports (a condition reason in the
    operator's status)."""

    reason: str = "Failed"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class ChecksumMismatch(RunFailure):
    """A segment's bytes differ from the sha256 its manifest records."""

    reason = "ChecksumMismatch"


class StoreUnreachable(RunFailure):
    """No connection to the object store's endpoint could be made."""

    reason = "StoreUnreachable"


class StoreError(RunFailure):
    """The object store answered with an error (the reason may name its code)."""

    reason = "StoreError"


class BrokerUnreachable(RunFailure):
    """The Kafka cluster did not answer."""

    reason = "BrokerUnreachable"


class PublishFailed(RunFailure):
    """A record could not be published to the target cluster."""

    reason = "PublishFailed"


class BackupNotFound(RunFailure):
    """No backup with that id (or no verified backup at all) in the store."""

    reason = "BackupNotFound"


class CorruptSegment(RunFailure):
    """A segment whose bytes match its checksum but cannot be decoded (or decrypted)."""

    reason = "CorruptSegment"


class InvalidArgument(RunFailure):
    """An argument the run cannot use."""

    reason = "InvalidArgument"


class NoTopicsSelected(RunFailure):
    """The topic selection matched no topic."""

    reason = "NoTopicsSelected"
