"""Logs as one JSON object per line, with the event and trace a record belongs to.

`configure` replaces the root logger's handlers (``setup`` calls it). Every record carries
``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``message`` and ``service``; records from a
handler's ``ctx.logger`` add ``subscription``, ``event_id``, ``event_type``, ``event_source`` and
``attempt`` (the dispatcher passes them as ``extra``); ``trace_id`` / ``span_id`` appear inside a
span when tracing is on (an unsampled event's ``ctx.logger`` passes those it forwards as
``extra``); any other ``extra`` keys are kept, and exceptions go in ``error``. The dispatcher's
own lines about an event (retrying, giving up) carry the same fields. `TextFormatter` is the
terminal's form: the message, then those fields as ``key=value``, then the traceback; style
``auto`` picks it when stderr is a terminal.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final, Literal

from tidal._events import Event
from tidal.observability import _hooks as hooks
from tidal.observability._sampling import parse_traceparent

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Attributes every LogRecord has: everything else on a record came from ``extra``.
_STANDARD: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of the message with terminal escape codes
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


def event_fields(event: Event, *, subscription: str, attempt: int) -> dict[str, Any]:
    """The ``extra`` of a line about ``event`` on ``subscription``: what operators filter by
    (``event_id``, ``event_type``, ``event_source``, ``subscription``, ``attempt``) and, when the
    event has a trace, ``trace_id`` (with tracing on, the ids its handling forwards)."""
    fields: dict[str, Any] = {
        "event_id": event.id,
        "event_type": event.type,
        "event_source": event.source,
        "subscription": subscription,
        "attempt": attempt,
    }
    tracer = hooks.tracer
    if tracer is not None:
        fields["trace_id"], fields["span_id"] = tracer.ids_for(event)
        return fields
    parent = parse_traceparent(event.get_extension("traceparent"))
    if parent is not None:
        fields["trace_id"] = parent.trace_id
    return fields


def _timestamp(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """One line per record for a terminal: time, level, logger, message, then the record's
    ``extra`` fields (event id, subscription, attempt, ...) as ``key=value``, then any traceback."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        fields = [
            f"{key}={value}" for key, value in record.__dict__.items() if key not in _STANDARD
        ]
        return f"{line} [{' '.join(fields)}]" if fields else line


def resolve(style: Literal["auto", "json", "text"], stream: Any = None) -> Literal["json", "text"]:
    """``auto``: text when ``stream`` (stderr) is a terminal, JSON otherwise (a pod's logs)."""
    if style != "auto":
        return style
    isatty = getattr(stream if stream is not None else sys.stderr, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure(*, level: str, style: Literal["auto", "json", "text"], service: str) -> None:
    """Send every log record to stderr at ``level``, as JSON lines or plain text."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter(service=service) if resolve(style) == "json" else TextFormatter()
    handler.setFormatter(formatter)
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
