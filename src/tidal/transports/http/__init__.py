"""The Knative (HTTP push) transport: an ASGI app under uvicorn (the subscriber contract)."""

from tidal.transports.http.server import create_asgi_app

__all__ = ["create_asgi_app"]
