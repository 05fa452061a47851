"""The data plane of the tidal operator's children: archive, back up, verify, restore, DLQ.

``tidal archive``, ``tidal backup run``, ``tidal restore`` / ``replay`` and ``tidal dlq ...``
(`tidal.cli`) call into this package. It reads Kafka topics with aiokafka and writes compressed,
immutable segments plus a manifest per backup into an S3-compatible object store with boto3; see
the "Data plane" section of docs/operator.md.
"""

# internal: the data plane is reached through its ``tidal`` commands (tidal.cli)
__all__: list[str] = []
