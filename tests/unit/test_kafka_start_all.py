"""The Kafka worker starts every subscription's consumer at once (issue 20): each start waits
for its group's assignment, so one after another, N subscriptions took N joins to the first
event. `_start_all` is what `KafkaWorker.start` awaits."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from tidal._transports.kafka.running import _start_all


class Joining:
    """A subscription worker whose start returns once every other one has begun starting (as
    group joins that complete together), or raises ``fails``."""

    def __init__(self, begun: list[Joining], everyone: int, fails: bool = False) -> None:
        self.begun, self.everyone, self.fails = begun, everyone, fails
        self.cancelled = False

    async def start(self) -> None:
        self.begun.append(self)
        if self.fails:
            raise ConnectionError("the broker is unreachable")
        try:
            while len(self.begun) < self.everyone:  # noqa: ASYNC110 (a list, not an event)
                await asyncio.sleep(0.01)
            await asyncio.sleep(3600 if any(w.fails for w in self.begun) else 0)
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def test_every_consumer_starts_before_any_has_joined() -> None:
    begun: list[Joining] = []
    workers = [Joining(begun, everyone=5) for _ in range(5)]
    await asyncio.wait_for(_start_all(cast(Any, workers)), timeout=10)
    assert len(begun) == 5


async def test_a_failed_start_cancels_the_others_and_is_raised() -> None:
    begun: list[Joining] = []
    workers = [Joining(begun, everyone=3), Joining(begun, everyone=3, fails=True)]
    workers.append(Joining(begun, everyone=3))
    with pytest.raises(ConnectionError, match="unreachable"):
        await asyncio.wait_for(_start_all(cast(Any, workers)), timeout=10)
    assert [w.cancelled for w in workers] == [True, False, True]
