"""The transactional outbox: PostgreSQL outbox rows -> Kafka, in Debezium's record shape.

`records` turns one row into the Kafka record Debezium's outbox event router and CloudEvents
converter would produce (pure); `postgres` reads and deletes rows (psycopg); `kafka` produces
(aiokafka); `relay` runs the loop that `tidal outbox relay` (tidal.cli._outbox) starts.
"""

# internal: reached through ``tidal outbox relay``
__all__: list[str] = []
