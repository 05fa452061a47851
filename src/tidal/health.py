"""Whether this process is healthy: the problems its parts report, for liveness probes.

Parts that can get stuck beyond repair register with `watch` (a `tidal.pools.SyncPool` whose
handler threads hang); ``/healthz`` of the HTTP server and of the Kafka worker's metrics
listener answer 503 with `problems` while there are any, so Kubernetes restarts the pod.
Watched objects are held weakly: a part that is gone reports nothing.
"""

from __future__ import annotations

import weakref
from typing import Protocol


class Watched(Protocol):
    def problem(self) -> str | None:
        """What is wrong with this part now, or None."""


_watched: weakref.WeakSet[Watched] = weakref.WeakSet()


def watch(part: Watched) -> None:
    """Report ``part``'s problems for as long as it lives."""
    _watched.add(part)


def problems() -> list[str]:
    """What every watched part reports wrong now (empty: healthy)."""
    return [p for part in list(_watched) if (p := part.problem()) is not None]
