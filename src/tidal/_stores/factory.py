"""Build the idempotency guard the settings ask for; `tidal run` and `tidal dev` call it."""

from __future__ import annotations

from tidal._clock import Clock
from tidal._idempotency.guard import Idempotency
from tidal._idempotency.memory import MemoryIdempotencyStore
from tidal._idempotency.records import IdempotencyStore
from tidal._settings import IdempotencySettings


def make_store(
    settings: IdempotencySettings, *, clock: Clock | None = None, coalesce: bool = False
) -> IdempotencyStore | None:
    """The configured store, or None when idempotency is off; ``coalesce``: a Redis store's
    calls of one loop turn go as one (`tidal._stores.coalescing`; the Kafka worker's many
    records in flight)."""
    if settings.backend == "none":
        return None
    if settings.backend == "redis":
        from tidal._stores.coalescing import CoalescingStore
        from tidal._stores.redis import RedisIdempotencyStore

        store = RedisIdempotencyStore.from_url(
            settings.redis_url.get_secret_value(),
            connect_timeout=settings.redis_connect_timeout,
            timeout=settings.redis_timeout,
        )
        return CoalescingStore(store) if coalesce else store
    return MemoryIdempotencyStore(
        clock=clock,
        max_entries=settings.memory_max_entries,
        max_bytes=settings.memory_max_bytes,
    )


def make_idempotency(
    settings: IdempotencySettings, *, clock: Clock | None = None, coalesce: bool = False
) -> Idempotency | None:
    """The configured guard over `make_store`'s store, or None when idempotency is off."""
    store = make_store(settings, clock=clock, coalesce=coalesce)
    if store is None:
        return None
    return Idempotency(
        store,
        ttl=settings.ttl,
        in_progress_ttl=settings.in_progress_ttl,
        on_in_progress=settings.on_in_progress,
        clock=clock,
    )
