"""Logs as one JSON object per line, with the event and trace a record belongs to.

`configure` replaces the root logger's handlers (``setup`` calls it). Every record carries
``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``message`` and ``service``; records from a
handler's ``ctx.logger`` add ``subscription``, ``event_id``, ``event_type``, ``event_source`` and
``attempt`` (the dispatcher passes them as ``extra``); ``trace_id`` / ``span_id`` appear inside a
span when tracing is on (an unsampled event's ``ctx.logger`` passes those it forwards as
``extra``); any other ``extra`` keys are kept, and exceptions go in ``error``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final, Literal

from tidal.observability import hooks

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Attributes every LogRecord has: everything else on a record came from ``extra``.
_STANDARD: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON; ``service`` fills in when a record has none."""

    def __init__(self, *, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service,
        }
        entry.update((key, value) for key, value in record.__dict__.items() if key not in _STANDARD)
        tracer = hooks.tracer
        ids = tracer.current_ids() if tracer is not None else None
        if ids is not None:
            entry["trace_id"], entry["span_id"] = ids
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _timestamp(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


def configure(*, level: str, style: Literal["json", "text"], service: str) -> None:
    """Send every log record to stderr at ``level``, as JSON lines or plain text."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = (
        JsonFormatter(service=service) if style == "json" else logging.Formatter(TEXT_FORMAT)
    )
    handler.setFormatter(formatter)
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
