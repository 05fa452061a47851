"""The Knative (HTTP push) transport: an ASGI app under uvicorn (the subscriber contract)."""

from tidal._transports.http.asgi import create_asgi_app

__all__ = ["create_asgi_app"]
