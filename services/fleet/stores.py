"""Where the fleet service keeps state: readings for audit, and alert outboxes written once.

`FleetStore` is the port; `RedisFleetStore` is production (each write one atomic command or Lua
script), `MemoryFleetStore` serves `tidal dev` and tests. Readings live in one hash per vehicle
(field = canonical timestamp, written with HSETNX: the first copy of a reading wins). An outbox
(``notifications``, ``maintenance``) is a list plus a marker per natural alert key, both written
by one script, so an alert redelivered or re-derived under another id is still recorded once; a
sender outside this service drains the lists (the transactional-outbox pattern).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Final, Protocol, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.redis_clients import pooled_client
from tidal import RetryableError

# KEYS: marker, list. ARGV: document, marker ttl (ms). 1 when recorded now, 0 when already there.
RECORD_ONCE: Final = """
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[2]) then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  return 1
end
return 0
"""


class FleetStore(Protocol):
    async def save_reading(
        self, vehicle_id: str, timestamp: str, document: Mapping[str, Any]
    ) -> bool:
        """Store a reading unless one exists for (vehicle, timestamp); True when stored now."""
        ...

    async def record_once(self, outbox: str, key: str, document: Mapping[str, Any]) -> bool:
        """Append ``document`` to ``outbox`` unless ``key`` was recorded there; True if now."""
        ...

    async def readings(self, vehicle_id: str) -> dict[str, dict[str, Any]]:
        """A vehicle's stored readings by timestamp."""
        ...

    async def outbox(self, name: str) -> list[dict[str, Any]]:
        """Everything recorded in an outbox, oldest first."""
        ...


class MemoryFleetStore:
    """`FleetStore` in process memory (atomic: nothing awaits between check and write)."""

    def __init__(self) -> None:
        self._readings: defaultdict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self._outboxes: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        self._recorded: set[tuple[str, str]] = set()

    async def save_reading(
        self, vehicle_id: str, timestamp: str, document: Mapping[str, Any]
    ) -> bool:
        readings = self._readings[vehicle_id]
        if timestamp in readings:
            return False
        readings[timestamp] = dict(document)
        return True

    async def record_once(self, outbox: str, key: str, document: Mapping[str, Any]) -> bool:
        if (outbox, key) in self._recorded:
            return False
        self._recorded.add((outbox, key))
        self._outboxes[outbox].append(dict(document))
        return True

    async def readings(self, vehicle_id: str) -> dict[str, dict[str, Any]]:
        return dict(self._readings.get(vehicle_id, {}))

    async def outbox(self, name: str) -> list[dict[str, Any]]:
        return list(self._outboxes.get(name, []))


class RedisFleetStore:
    """`FleetStore` in Redis; keys start with ``prefix`` (hash tags keep an outbox's keys in
    one cluster slot, as its script needs)."""

    def __init__(
        self, client: aioredis.Redis, *, prefix: str = "fleet", marker_ttl: float = 30 * 86400
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.marker_ttl_ms = int(marker_ttl * 1000)
        self._record_once = client.register_script(RECORD_ONCE)

    @classmethod
    def from_url(cls, url: str, *, max_connections: int = 128, **options: Any) -> RedisFleetStore:
        """A store over `pooled_client` (waits for a free connection; calls time out)."""
        return cls(pooled_client(url, max_connections=max_connections), **options)

    async def save_reading(
        self, vehicle_id: str, timestamp: str, document: Mapping[str, Any]
    ) -> bool:
        key = f"{self.prefix}:readings:{vehicle_id}"
        try:
            return bool(await self.client.hsetnx(key, timestamp, _dumps(document)))
        except RedisError as exc:
            raise RetryableError(f"fleet store unavailable: {exc}") from exc

    async def record_once(self, outbox: str, key: str, document: Mapping[str, Any]) -> bool:
        keys = [self._outbox_key(outbox, f"sent:{key}"), self._outbox_key(outbox, "items")]
        try:
            done = await self._record_once(keys=keys, args=[_dumps(document), self.marker_ttl_ms])
        except RedisError as exc:
            raise RetryableError(f"fleet store unavailable: {exc}") from exc
        return bool(done)

    async def readings(self, vehicle_id: str) -> dict[str, dict[str, Any]]:
        raw = cast(
            dict[bytes, bytes], await self.client.hgetall(f"{self.prefix}:readings:{vehicle_id}")
        )
        return {k.decode(): json.loads(v) for k, v in raw.items()}

    async def outbox(self, name: str) -> list[dict[str, Any]]:
        raw = await self.client.lrange(self._outbox_key(name, "items"), 0, -1)
        return [json.loads(item) for item in cast(list[bytes], raw)]

    async def close(self) -> None:
        await self.client.aclose()

    def _outbox_key(self, outbox: str, suffix: str) -> str:
        return f"{self.prefix}:{{outbox:{outbox}}}:{suffix}"


def _dumps(document: Mapping[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"))
