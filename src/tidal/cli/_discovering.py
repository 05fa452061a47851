"""Finding the services `tidal dev` runs, under ``services/<name>/``.

A service is a folder with ``app.py`` defining ``app`` (a tidal App: its subscriptions join the
broker), or with ``demo.py`` defining ``ingress(publisher)`` (an ASGI front door, such as an
ingest gateway, that publishes onto the broker), or both. ``demo.py`` may also define the demo
traffic: ``events(rng)``, an endless iterator of events published straight onto the broker, and
``requests(rng)``, an endless iterator of ``httpx.Request`` objects posted in process to the
service's ingress. Folders with neither file (shared libraries) are skipped. ``app.py`` may
also define ``app_for(settings)``: the App to run on shared servers (``tidal dev --kafka``),
built from that run's `tidal.Settings` (its Redis: ``settings.idempotency.redis_url``); `for_run`
puts it in place of ``app``, so tidal never writes a service's own variables.
`from_references` makes services of the user's own Apps (``tidal dev pkg.module:app ...``).
"""

from __future__ import annotations

import importlib
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from tidal._app import App
from tidal._errors import ConfigurationError
from tidal._events import Event
from tidal._loading import load_app
from tidal._publishing import Publisher
from tidal._settings import Settings

DemoSource = Callable[[random.Random], Iterator[Event]]
RequestSource = Callable[[random.Random], Iterator[Any]]  # of httpx.Request
IngressFactory = Callable[[Publisher], Any]  # -> an ASGI application
AppFactory = Callable[[Settings], App]


@dataclass(frozen=True)
class Service:
    name: str
    app: App | None
    demo: DemoSource | None = None
    ingress: IngressFactory | None = None
    requests: RequestSource | None = None
    app_for: AppFactory | None = None


def discover(services_dir: Path) -> list[Service]:
    """Import every service under ``services_dir`` (whose parent goes on ``sys.path``)."""
    if not services_dir.is_dir():
        raise ConfigurationError(f"no services directory at {services_dir}")
    root = str(services_dir.resolve().parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    package = services_dir.resolve().name
    found = [
        service
        for child in sorted(services_dir.iterdir())
        if child.is_dir() and (service := _load(package, child)) is not None
    ]
    if not found:
        raise ConfigurationError(
            f"no services under {services_dir} (folders with app.py, or demo.py with ingress)"
        )
    return found


def from_references(references: tuple[str, ...]) -> list[Service]:
    """The Apps at ``module:attribute`` references, imported from the current directory."""
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")
    apps = [load_app(reference) for reference in references]
    names = [app.name for app in apps]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"two Apps share a name: {', '.join(names)}")
    return [Service(name=app.name, app=app) for app in apps]


def _load(package: str, folder: Path) -> Service | None:
    try:
        return _import_service(package, folder)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] == package:
            raise
        extra = folder.name if folder.name in _extras() else "all"
        raise ConfigurationError(
            f"{package}/{folder.name} needs {exc.name!r}, which is not installed: "
            f"pip install 'tidal[{extra}]' ('tidal[all]' installs what every service needs)"
        ) from None


def _extras() -> list[str]:
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        return metadata("tidal").get_all("Provides-Extra") or []
    except PackageNotFoundError:
        return []


def _import_service(package: str, folder: Path) -> Service | None:
    name = folder.name
    app = app_for = None
    if (folder / "app.py").is_file():
        module = importlib.import_module(f"{package}.{name}.app")
        app, app_for = getattr(module, "app", None), getattr(module, "app_for", None)
        if not isinstance(app, App):
            raise ConfigurationError(f"{package}/{name}/app.py defines no tidal App named 'app'")
    demo = _demo_module(package, folder)
    ingress = getattr(demo, "ingress", None)
    if app is None and ingress is None:
        return None
    return Service(
        name=name,
        app=app,
        demo=getattr(demo, "events", None),
        ingress=ingress,
        requests=getattr(demo, "requests", None) if ingress is not None else None,
        app_for=app_for,
    )


def for_run(services: list[Service], settings: Settings) -> list[Service]:
    """``services`` with each ``app_for`` App built for ``settings`` in place of ``app``."""
    found = []
    for service in services:
        if service.app_for is not None:
            app = service.app_for(settings)
            if not isinstance(app, App):
                raise ConfigurationError(f"{service.name}: app_for(settings) returned no tidal App")
            service = replace(service, app=app)
        found.append(service)
    return found


def _demo_module(package: str, folder: Path) -> ModuleType | None:
    if not (folder / "demo.py").is_file():
        return None
    return importlib.import_module(f"{package}.{folder.name}.demo")


def interleave(services: list[Service], rng: random.Random) -> Iterator[Event]:
    """Round-robin over every service's demo event stream."""
    streams = [s.demo(rng) for s in services if s.demo is not None]
    if not streams:
        raise ConfigurationError("no service ships a demo.py with events(rng)")
    while True:
        for stream in streams:
            yield next(stream)
