"""Helpers for tidal's own test suite: real servers on free ports, ASGI clients."""
