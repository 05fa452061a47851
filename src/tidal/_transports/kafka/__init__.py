"""The Kafka transport: a consumer-group worker per App (KEDA scales it on lag) and a publisher.

`tidal run --transport kafka module:app` runs `run_worker`; services publish with
`KafkaPublisher`; the metrics layer reads `KafkaWorker.metrics`. The design (commit discipline,
per-key ordering, the retry topic, dead-letter format, lag) is described in docs/kafka.md.

Modules: `running` (the worker and its signals), `consuming` (one subscription's group member),
`scheduling` (per-partition order and bounds), `offsets` (what may be committed), `handling`
(one record's outcome), `retries` / `letters` (retry and dead-letter records), `producing`,
`names`, `measures`, `records`, `claims` (the claim-check port) and `bucket` (its S3 store).
Clients are built, and topics created, by the public `tidal.kafka` (shared with the data plane).
"""

from tidal._transports.kafka.measures import KafkaMetrics
from tidal._transports.kafka.producing import KafkaPublisher
from tidal._transports.kafka.running import KafkaWorker, run_worker

__all__ = ["KafkaMetrics", "KafkaPublisher", "KafkaWorker", "run_worker"]
