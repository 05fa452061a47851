"""Real servers on free ports for the test suite and the benchmarks (never shipped).

- `servers`: free ports, waiting for a listener, ``redis-server``;
- `kafka`: a ``tansu`` Kafka-protocol broker, topics, producing, exact log-end offsets;
- `objectstore`: moto's S3 server, boto3 clients and fresh buckets;
- `otlp`: an OTLP/HTTP trace receiver in a thread.

``tests/support`` re-exports these for the suite and adds the tests' own helpers; ``bench/``
imports them from here (it must not import the test suite).
"""
