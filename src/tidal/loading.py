"""Finding an `App` from a ``module:attribute`` reference; the CLI calls it for `tidal run`."""

from __future__ import annotations

import importlib

from tidal.app import App
from tidal.errors import ConfigurationError


def load_app(reference: str) -> App:
    """Import ``package.module:name`` and return the App it names (``:app`` if omitted)."""
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigurationError(f"cannot import {module_name!r}: {exc}") from exc
    app = getattr(module, attribute or "app", None)
    if not isinstance(app, App):
        raise ConfigurationError(f"{reference!r} is not a tidal App (got {type(app).__name__})")
    return app
