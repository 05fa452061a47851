"""The run result every data-plane command writes to ``--result-file`` (the container's
termination message): ``tidal.dev/run-result/v1``, one JSON object of at most 4096 bytes.

The operator reads it back (see "The termination-message result (contract)" in
docs/operator.md). Pure; called by `tidal_data.cli.shared`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from tidal_data.durations import format_time

SCHEMA: Final = "tidal.dev/run-result/v1"
MAX_BYTES: Final = 4096
MAX_MESSAGE_BYTES: Final = 1024
PARTIALLY_FAILED: Final = "partiallyFailed"


def truncate(message: str, limit: int) -> str:
    """``message`` cut to at most ``limit`` UTF-8 bytes without splitting a character."""
    raw = message.encode("utf-8")
    if len(raw) <= limit:
        return message
    return raw[: limit - 3].decode("utf-8", errors="ignore") + "..."


@dataclass(kw_only=True)
class RunResult:
    command: str
    started_at: datetime
    outcome: str = "succeeded"
    finished_at: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)
    backup: dict[str, Any] | None = None
    stored: dict[str, int] | None = None
    listing: dict[str, Any] | None = None
    """``backup sync``: the store's backups (`tidal_data.catalog`)."""
    reason: str | None = None
    message: str | None = None

    def fail(self, reason: str, message: str) -> None:
        self.outcome, self.reason, self.message = "failed", reason, message

    def partial(self, reason: str, message: str) -> None:
        """Done, but not all of it: e.g. a selected topic was missing. Velero's word
        (vmware-tanzu/velero, pkg/apis/velero/v1/backup_types.go at 56f93393:
        ``BackupPhasePartiallyFailed`` "the backup has run to completion but encountered 1+
        errors backing up individual items"). The command exits 3."""
        if self.outcome != "failed":
            self.outcome, self.reason, self.message = PARTIALLY_FAILED, reason, message

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "schema": SCHEMA,
            "command": self.command,
            "outcome": self.outcome,
            "startedAt": format_time(self.started_at),
        }
        if self.finished_at is not None:
            body["finishedAt"] = format_time(self.finished_at)
        if self.counts:
            body["counts"] = {k: int(v) for k, v in self.counts.items()}
        if self.backup is not None:
            body["backup"] = self.backup
        if self.stored is not None:
            body["stored"] = self.stored
        if self.listing is not None:
            body["listing"] = self.listing
        if self.outcome in ("failed", PARTIALLY_FAILED):
            body["error"] = {
                "reason": self.reason or "Failed",
                "message": truncate(self.message or "", MAX_MESSAGE_BYTES),
            }
        return body


def render(result: RunResult) -> bytes:
    """The JSON, cut to fit ``MAX_BYTES`` (the message shrinks first, then extras go)."""
    body = result.as_dict()
    data = json.dumps(body, separators=(",", ":")).encode("utf-8")
    limit = MAX_MESSAGE_BYTES
    while len(data) > MAX_BYTES and "error" in body and limit > 64:
        limit //= 2
        body["error"]["message"] = truncate(result.message or "", limit)
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
    for extra in ("listing", "stored", "backup", "counts"):
        if len(data) <= MAX_BYTES:
            break
        body.pop(extra, None)
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
    return data


def write(path: Path, result: RunResult) -> None:
    path.write_bytes(render(result))
