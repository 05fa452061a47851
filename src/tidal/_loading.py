"""Finding an `App` from a reference; the CLI calls it for `tidal run` and `tidal manifests`.

A reference is ``package.module:name`` (``:app`` if omitted) or a file, ``./vip.py[:name]``.
Every mistake is a `ConfigurationError` saying what to type instead; an error raised by the
module's own code while it is imported propagates with its traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from tidal._app import App
from tidal._errors import ConfigurationError


def load_app(reference: str) -> App:
    """Import ``package.module:name`` (or ``path/to/file.py:name``) and return the App it names."""
    target, _, attribute = reference.rpartition(":") if ":" in reference else (reference, "", "")
    module = _from_file(target) if _is_path(target) else _import(target)
    name = attribute or "app"
    app = getattr(module, name, None)
    if isinstance(app, App):
        return app
    apps = sorted(key for key, value in vars(module).items() if isinstance(value, App))
    found = f"; it has {', '.join(f'{target}:{a}' for a in apps)}" if apps else "; it has no App"
    if app is None:
        raise ConfigurationError(f"{target!r} has no attribute {name!r}{found}")
    raise ConfigurationError(
        f"{target}:{name} is not a tidal App but a {type(app).__name__} "
        f"(app = App('name') ... @app.on(...)){found}"
    )


def _is_path(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def _import(name: str) -> ModuleType:
    if not name or not all(part.isidentifier() for part in name.split(".")):
        raise ConfigurationError(
            f"{name!r} is not a module name: give package.module:app or a file, ./handlers.py"
        )
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not f"{name}.".startswith(f"{exc.name}."):
            raise  # the module imports something missing: its own traceback says what
        raise ConfigurationError(
            f"cannot import {name!r}: no such module from {Path.cwd()} (run tidal in the "
            "directory holding it, or give the file: tidal run ./path/to/module.py)"
        ) from None


def _from_file(target: str) -> ModuleType:
    path = Path(target)
    if not path.is_file():
        raise ConfigurationError(f"no file {target!r} (from {Path.cwd()})")
    if path.suffix != ".py":
        raise ConfigurationError(f"{target!r} is not a Python file (.py)")
    name = path.stem
    taken = sys.modules.get(name)
    if taken is not None:
        if getattr(taken, "__file__", None) == str(path.resolve()):
            return taken  # imported already (a test module's `from handlers import app`)
        raise ConfigurationError(
            f"{target!r} would shadow the module {name!r} that is already imported: rename it"
        )
    sys.path.insert(0, str(path.resolve().parent))  # its sibling modules import as usual
    spec = importlib.util.spec_from_file_location(name, path.resolve())
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"cannot load {target!r} as a module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
