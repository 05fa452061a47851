"""cdc: change-data-capture records -> DataTransformed (the transactional-outbox reference)."""
