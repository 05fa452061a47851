"""Whether this process is healthy and ready: its parts' problems, its dependencies' states.

Liveness: parts that can get stuck beyond repair register with `watch` (a `tidal._pools.SyncPool`
whose handler threads hang); ``/healthz`` of the HTTP server and of the Kafka worker's metrics
listener answer 503 with `problems` while there are any, so Kubernetes restarts the pod.

Readiness: each client of a service tidal depends on holds a `Dependency` from `dependency`
(the Redis idempotency store: ``redis``; the Kafka producer: ``kafka``; an HTTP sink: ``sink``,
a dead-letter sink: ``dead_letter_sink``) and says `Dependency.down` when the service cannot be
reached and `Dependency.up` once it answers again. ``/readyz`` answers 503 naming what is down
(`unavailable`) and ``tidal_dependency_up`` exports `dependencies` (0 or 1 per name); a name
is down while any of its clients says so. Restarting would not help, so liveness ignores them.
A process that is not ready gets no requests, so no call would find the service back: the HTTP
server's ``/readyz`` (and the gateway's, through `tidal.observability.readiness`) first runs
`recheck`, which probes each dependency that is down (a Redis PING, a connection to the sink, a
Kafka metadata request) and marks it up when the probe succeeds.

Watched parts and dependencies are held weakly: a part that is gone reports nothing.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

PROBE_WITHIN: Final = 1.0  # seconds one probe of a dependency that is down may take


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


class Dependency:
    """One client's view of a service it needs: up (``why`` None) or down, and why.
    ``probe``: a bound method of the client (held weakly) that raises while the service is
    down, which `recheck` calls."""

    __slots__ = ("__weakref__", "_probe", "name", "why")

    def __init__(self, name: str, probe: Callable[[], Awaitable[object]] | None = None) -> None:
        self.name = name
        self.why: str | None = None
        self._probe = None if probe is None else weakref.WeakMethod(probe)

    def down(self, why: str) -> None:
        """The service cannot be reached (``why``: what the client saw, no secrets)."""
        self.why = why

    def up(self) -> None:
        """The service answered."""
        if self.why is not None:
            self.why = None

    async def recheck(self, within: float = PROBE_WITHIN) -> None:
        """Probe the service if it is down and can be probed; up when the probe succeeds."""
        probe = None if self.why is None or self._probe is None else self._probe()
        if probe is None:
            return
        try:
            async with asyncio.timeout(within):
                await probe()
        except Exception:  # still down: keep what the client saw
            return
        self.up()


_dependencies: weakref.WeakSet[Dependency] = weakref.WeakSet()


def dependency(name: str, probe: Callable[[], Awaitable[object]] | None = None) -> Dependency:
    """A `Dependency` on the service ``name``, reported for as long as the caller keeps it."""
    tracked = Dependency(name, probe)
    _dependencies.add(tracked)
    return tracked


def dependencies() -> dict[str, bool]:
    """Every dependency a live client reports, by name: True while up."""
    states: dict[str, bool] = {}
    for tracked in list(_dependencies):
        states[tracked.name] = states.get(tracked.name, True) and tracked.why is None
    return dict(sorted(states.items()))


async def recheck(within: float = PROBE_WITHIN) -> None:
    """Probe every dependency that is down (at once, ``within`` seconds each): the readiness
    endpoint's first step, so a process out of traffic still sees a service come back."""
    down = [tracked for tracked in list(_dependencies) if tracked.why is not None]
    if down:
        await asyncio.gather(*(tracked.recheck(within) for tracked in down))


def unavailable() -> dict[str, str]:
    """The dependencies down now, by name, with why (empty: every one is up)."""
    down: dict[str, str] = {}
    for tracked in list(_dependencies):
        if (why := tracked.why) is not None:
            down.setdefault(tracked.name, why)
    return dict(sorted(down.items()))


def readiness() -> tuple[bool, dict[str, Any]]:
    """Whether a dependency is down (``/readyz`` then answers 503) and the JSON body naming
    each one down with why: ``{"status": "dependency_unavailable", "down": {"redis": ...}}``."""
    if down := unavailable():
        return True, {"status": "dependency_unavailable", "down": down}
    return False, {"status": "ready"}


async def checked_readiness(within: float = PROBE_WITHIN) -> tuple[bool, dict[str, Any]]:
    """`readiness` after `recheck`: the answer of every ``/readyz`` served on an event loop
    (``tidal run``'s HTTP server, `tidal.observability.readiness` for other ingresses)."""
    await recheck(within)
    return readiness()
