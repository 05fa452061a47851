"""Adapters for the storage ports (idempotency records in Redis); they may import server clients."""
