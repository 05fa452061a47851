"""Serving ``/metrics`` beside a long-running CLI job, or saying why not.

``tidal outbox relay`` calls `listen_or_warn` (``tidal dlq drain``, in the data plane, has its
own over `tidal.observability.listen`): the job matters more than its metrics, so a missing
``prometheus_client`` or a taken port is logged and the job runs on.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tidal.observability._listener import Listener

log = logging.getLogger("tidal.cli")


def listen_or_warn(port: int, host: str) -> Listener | None:
    """`tidal.observability._listener.listen`, or None (said why) when it cannot serve."""
    try:
        from tidal.observability._listener import listen
    except ImportError:
        log.warning("no /metrics: prometheus_client is not installed (tidal[observability])")
        return None
    try:
        return listen(port, host=host)
    except OSError as exc:  # the job matters more than its metrics: run on, say so loudly
        log.error("no /metrics: cannot listen on %s:%d (%s)", host, port, exc)
        return None
