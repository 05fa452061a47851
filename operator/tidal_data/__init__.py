"""The data plane of the tidal operator's children: archive, back up, verify, restore, DLQ.

``tidal archive``, ``tidal backup run``, ``tidal restore`` / ``replay`` and ``tidal dlq ...``
(`tidal_data.cli`, added to the runtime's ``tidal`` command through the ``tidal.commands``
entry points of operator/pyproject.toml) call into this package. It reads Kafka topics with
aiokafka (`tidal_data.kafka`, over the runtime's public `tidal.kafka`) and writes compressed,
immutable segments plus a manifest per backup into an S3-compatible object store with boto3
(`tidal_data.store`); see the "Data plane" section of docs/operator.md. It ships in the
``tidal-operator`` distribution (its ``data-plane`` extra brings the clients) and uses only the
runtime's public API: ``tidal``, ``tidal.observability`` and ``tidal.kafka``.
"""

# internal: the data plane is reached through its ``tidal`` commands (tidal_data.cli)
__all__: list[str] = []
