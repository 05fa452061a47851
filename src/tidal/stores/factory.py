"""Build the idempotency guard the settings ask for; `tidal run` and `tidal dev` call it."""

from __future__ import annotations

from tidal.clock import Clock
from tidal.idempotency import Idempotency, IdempotencyStore, MemoryIdempotencyStore
from tidal.settings import IdempotencySettings


def make_store(
    settings: IdempotencySettings, *, clock: Clock | None = None
) -> IdempotencyStore | None:
    """The configured store, or None when idempotency is off."""
    if settings.backend == "none":
        return None
    if settings.backend == "redis":
        from tidal.stores.redis import RedisIdempotencyStore

        return RedisIdempotencyStore.from_url(settings.redis_url.get_secret_value())
    return MemoryIdempotencyStore(
        clock=clock,
        max_entries=settings.memory_max_entries,
        max_bytes=settings.memory_max_bytes,
    )


def make_idempotency(
    settings: IdempotencySettings, *, clock: Clock | None = None
) -> Idempotency | None:
    store = make_store(settings, clock=clock)
    if store is None:
        return None
    return Idempotency(
        store,
        ttl=settings.ttl,
        in_progress_ttl=settings.in_progress_ttl,
        on_in_progress=settings.on_in_progress,
        clock=clock,
    )
