"""Failures of the data plane, each with the CamelCase reason the run result reports.

Raised throughout `tidal_data`; the CLI (`tidal_data.cli.archiving`) turns them into a failed
``tidal.dev/run-result/v1`` and a non-zero exit.
"""

from __future__ import annotations

from typing import Any


class ArchiveError(Exception):
    """A failure with a reason code (it becomes a condition reason in the operator's status).

    A subclass's default reason is its own name; ``reason=`` overrides it for one failure.
    """

    reason = "ArchiveFailed"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "reason" not in cls.__dict__:
            cls.reason = cls.__name__

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class ChecksumMismatch(ArchiveError):
    """A segment's bytes differ from the sha256 its manifest records."""


class StoreUnreachable(ArchiveError):
    """No connection to the object store's endpoint could be made."""


class StoreError(ArchiveError):
    """The object store answered with an error (the reason may name its code)."""


class BrokerUnreachable(ArchiveError):
    """The Kafka cluster did not answer."""


class PublishFailed(ArchiveError):
    """A record could not be published to the target cluster."""


class BackupNotFound(ArchiveError):
    """No backup with that id (or no verified backup at all) in the store."""


class CorruptSegment(ArchiveError):
    """A segment whose bytes match its checksum but cannot be decoded (or decrypted)."""


class InvalidArgument(ArchiveError):
    """An argument the run cannot use."""


class NoTopicsSelected(ArchiveError):
    """The topic selection matched no topic."""
