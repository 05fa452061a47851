"""Wire bindings for CloudEvents: HTTP (binary, structured, batched) and Kafka records.

Pure functions over plain headers and bytes, no client library: the transports call them.
"""

# internal: the transports call the bindings; `tidal.from_http` is the public reader
__all__: list[str] = []
