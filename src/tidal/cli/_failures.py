"""What a failure at start-up means, as one sentence naming the setting that fixes it.

`tidal run` calls `explain` on what escapes the transport while it connects: a Kafka broker that
does not answer, a broker without idempotent producers (tansu 0.6 answers ``InitProducerId``
with ``UnknownError``), a Redis that does not answer. None for anything else (a bug: the
traceback is the right report).
"""

from __future__ import annotations

import traceback
from typing import Final

from tidal._settings import Settings

# aiokafka's sender frames that ask the broker for a producer id (idempotent producer only)
_PRODUCER_ID_FRAMES: Final = frozenset({"_maybe_wait_for_pid", "_do_init_pid"})


def explain(exc: BaseException, settings: Settings) -> str | None:
    """One line for a configuration or connection mistake; None when ``exc`` is none of those."""
    kafka = settings.kafka
    name = type(exc).__name__
    module = type(exc).__module__
    if module.startswith("aiokafka") and _in_frames(exc, _PRODUCER_ID_FRAMES):
        return (
            f"the Kafka broker at {kafka.bootstrap_servers} refused an idempotent producer "
            f"({name}; tansu does not implement InitProducerId): set "
            "TIDAL_KAFKA__IDEMPOTENT_PRODUCER=false for it"
        )
    if module.startswith("aiokafka") and name == "KafkaConnectionError":
        return (
            f"cannot reach the Kafka broker at {kafka.bootstrap_servers}: start it, or set "
            "TIDAL_KAFKA__BOOTSTRAP_SERVERS to host:port of a running one"
        )
    if module.startswith("redis") and name in {"ConnectionError", "TimeoutError"}:
        return (
            f"cannot reach Redis at {_redacted(settings)} ({exc}): start it, or set "
            "TIDAL_IDEMPOTENCY__REDIS_URL (TIDAL_IDEMPOTENCY__BACKEND=memory for one process)"
        )
    return None


def _in_frames(exc: BaseException, names: frozenset[str]) -> bool:
    return any(frame.name in names for frame in traceback.extract_tb(exc.__traceback__))


def _redacted(settings: Settings) -> str:
    url = settings.idempotency.redis_url.get_secret_value()
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"
