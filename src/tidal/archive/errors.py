"""Failures of the data plane, each with the CamelCase reason the run result reports.

Raised throughout `tidal.archive`; the CLI (`tidal.cli.archiving`) turns them into a failed
``tidal.dev/run-result/v1`` and a non-zero exit.
"""

from __future__ import annotations


class ArchiveError(Exception):
    """A failure with a reason code (it becomes a condition reason in the operator's status)."""

    reason = "ArchiveFailed"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class ChecksumMismatch(ArchiveError):
    reason = "ChecksumMismatch"


class StoreUnreachable(ArchiveError):
    reason = "StoreUnreachable"


class StoreError(ArchiveError):
    reason = "StoreError"


class BrokerUnreachable(ArchiveError):
    reason = "BrokerUnreachable"


class PublishFailed(ArchiveError):
    reason = "PublishFailed"


class BackupNotFound(ArchiveError):
    reason = "BackupNotFound"


class CorruptSegment(ArchiveError):
    """A segment whose bytes match its checksum but cannot be decoded (or decrypted)."""

    reason = "CorruptSegment"


class InvalidArgument(ArchiveError):
    reason = "InvalidArgument"


class NoTopicsSelected(ArchiveError):
    reason = "NoTopicsSelected"
