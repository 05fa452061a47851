"""Transports move events between the outside world and a `Dispatcher`: memory, http, kafka.

Only modules under here (and `tidal.stores`) may import network clients.
"""
