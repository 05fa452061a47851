"""aiokafka on uvloop: a request on a connection the broker closed is a connection error.

aiokafka 0.14 writes a request with ``transport.write`` and catches only ``OSError``; asyncio's
transport ignores a write after the peer reset the connection, but uvloop's raises
``RuntimeError: unable to perform operation on <TCPTransport closed=True ...>; the handler is
closed`` (aio-libs/aiokafka#1038, open). Raised inside the consumer's fetch task, that error
ends the fetcher and `getmany` re-raises it, so a worker on uvloop (`tidal run` uses it when
installed) exited 1 whenever the broker restarted between its reads (the chaos test,
tests/chaos). `install` wraps ``AIOKafkaConnection.send`` so that error closes the connection
and becomes the ``KafkaConnectionError`` aiokafka retries, as it does for ``OSError``.
`tidal.kafka._connecting` installs it on import, before any client is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from aiokafka.conn import AIOKafkaConnection, CloseReason
from aiokafka.errors import KafkaConnectionError

_MARK: Final = "_tidal_closed_transport_is_connection_error"


def install() -> None:
    """Wrap ``AIOKafkaConnection.send`` once (idempotent)."""
    original: Callable[..., Any] = AIOKafkaConnection.send
    if getattr(original, _MARK, False):
        return

    def send(self: AIOKafkaConnection, request: Any, expect_response: bool = True) -> Any:
        try:
            return original(self, request, expect_response)
        except RuntimeError as exc:
            writer = self._writer
            if writer is None or not writer.transport.is_closing():
                raise  # not the closed transport: a bug to report as it is
            self.close(reason=CloseReason.CONNECTION_BROKEN)
            raise KafkaConnectionError(
                f"Connection at {self.host}:{self.port} broken: {exc}"
            ) from exc

    setattr(send, _MARK, True)
    AIOKafkaConnection.send = send
