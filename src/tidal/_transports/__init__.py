"""Transports move events between the outside world and the delivery core
(`tidal._pipeline.Pipeline`): memory, http, kafka. Each decodes, acknowledges and routes; the
core matches, counts, attempts and classifies.

Only modules under here (and `tidal._stores`) may import network clients.
"""

# internal: public through `tidal` (`open_publisher`, `serve_asgi`, `run_on_fastest_loop`)
__all__: list[str] = []
