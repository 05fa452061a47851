"""The versioned event catalogue: one JSON Schema per event type, in ``events/<type>.json``.

The gateway validates what it ingests against it, the fleet and orders services validate what
they consume, and `services.catalog.rendering` renders it into ``docs/events.md`` (a test fails
when the two drift apart). A type's version is part of its name (``...v1``): a compatible change
edits the file, an incompatible one adds ``...v2`` beside it.
"""

from services.catalog.schemas import Catalog, EventSchema, SchemaViolation, load_catalog

__all__ = ["Catalog", "EventSchema", "SchemaViolation", "load_catalog"]
