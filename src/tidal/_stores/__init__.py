"""Adapters for the storage ports (idempotency records in Redis); they may import server clients."""

# internal: chosen by `tidal.Settings` (``TIDAL_IDEMPOTENCY__*``)
__all__: list[str] = []
