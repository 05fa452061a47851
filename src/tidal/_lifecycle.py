"""`Service`: ``async with`` for the objects that start, run a while and stop.

`tidal._transports.kafka.running.KafkaWorker` and `tidal.testing.MemoryBroker` inherit it instead
of each writing ``__aenter__`` / ``__aexit__``: entering awaits `Service.start` and gives the
object itself, leaving awaits `Service.stop`, whether the block raised or not.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Service(ABC):
    """An ``async with`` object: `start` on entry, `stop` on exit."""

    @abstractmethod
    async def start(self) -> None:
        """Connect, spawn or join what the object runs on."""

    @abstractmethod
    async def stop(self) -> None:
        """Release what the object holds (tasks, clients); called once on leaving the block."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
