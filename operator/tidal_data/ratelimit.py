"""A token bucket for restore, replay and re-drive (``--rate-limit`` events per second).

Called by `tidal_data.restore` and `tidal_data.dlq`.
"""

from __future__ import annotations

import asyncio
import time


class RateLimiter:
    """At most ``rate`` events per second on average, bursts of up to one second's worth;
    ``rate`` None or 0 means unlimited."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate or 0.0
        self._tokens = self.rate
        self._stamp = time.monotonic()

    async def take(self, count: int = 1) -> None:
        if self.rate <= 0:
            return
        while True:
            now = time.monotonic()
            self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= count or (count > self.rate and self._tokens >= self.rate):
                self._tokens -= count
                return
            await asyncio.sleep((min(count, self.rate) - self._tokens) / self.rate)
