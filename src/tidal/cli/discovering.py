"""Finding the services `tidal dev` runs: every ``services/<name>/app.py`` defining ``app``.

A service may also ship ``demo.py`` with ``events(rng)``, an endless iterator of demo events.
"""

from __future__ import annotations

import importlib
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tidal.app import App
from tidal.errors import ConfigurationError
from tidal.events import Event

DemoSource = Callable[[random.Random], Iterator[Event]]


@dataclass(frozen=True)
class Service:
    name: str
    app: App
    demo: DemoSource | None


def discover(services_dir: Path) -> list[Service]:
    """Import every service under ``services_dir`` (whose parent goes on ``sys.path``)."""
    if not services_dir.is_dir():
        raise ConfigurationError(f"no services directory at {services_dir}")
    root = str(services_dir.resolve().parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    package = services_dir.resolve().name
    found = [
        _load(package, child.name)
        for child in sorted(services_dir.iterdir())
        if (child / "app.py").is_file()
    ]
    if not found:
        raise ConfigurationError(f"no services (folders with app.py) under {services_dir}")
    return found


def _load(package: str, name: str) -> Service:
    module = importlib.import_module(f"{package}.{name}.app")
    app = getattr(module, "app", None)
    if not isinstance(app, App):
        raise ConfigurationError(f"{package}/{name}/app.py defines no tidal App named 'app'")
    demo = None
    try:
        demo = getattr(importlib.import_module(f"{package}.{name}.demo"), "events", None)
    except ModuleNotFoundError as exc:
        if exc.name != f"{package}.{name}.demo":
            raise
    return Service(name=name, app=app, demo=demo)


def interleave(services: list[Service], rng: random.Random) -> Iterator[Event]:
    """Round-robin over every service's demo stream."""
    streams = [s.demo(rng) for s in services if s.demo is not None]
    if not streams:
        raise ConfigurationError("no service ships a demo.py with events(rng)")
    while True:
        for stream in streams:
            yield next(stream)
