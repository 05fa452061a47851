"""A standalone ``/metrics``, ``/healthz`` and ``/readyz`` server for processes without HTTP.

`listen` serves `tidal.observability._collector.REGISTRY` and the health probes from a daemon
thread. Callers: the Kafka worker through `tidal.observability.setup` (``tidal run`` with
``metrics_listener``), ``tidal outbox relay`` through `tidal.cli._listening` and ``tidal dlq
drain`` (the data plane) through the public `tidal.observability.listen`. The HTTP transport
serves the same endpoints itself.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from tidal import _health as health
from tidal.observability._collector import REGISTRY


@dataclass(frozen=True)
class Listener:
    """A running `listen` server; `close` stops it (processes that end, and tests)."""

    server: Any
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def listen(port: int, *, host: str = "0.0.0.0") -> Listener:
    """Serve ``/metrics``, ``/healthz`` (the liveness probe: 503 while `tidal._health` reports
    problems) and ``/readyz`` (503 while a dependency is down, `health.readiness`) on
    ``host:port`` from a daemon thread (processes without HTTP)."""
    metrics = make_wsgi_app(REGISTRY)

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path == "/healthz":
            problems = health.problems()
            bad = bool(problems)
            body: dict[str, Any] = {"status": "unhealthy" if bad else "ok", "problems": problems}
        elif path == "/readyz":
            bad, body = health.readiness()
        else:
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        status = "503 Service Unavailable" if bad else "200 OK"
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="tidal-metrics", daemon=True)
    thread.start()
    return Listener(server, thread)


class _Quiet(WSGIRequestHandler):
    """No access log line per scrape."""

    def log_message(self, format: str, *args: Any) -> None:
        return None
