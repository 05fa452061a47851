"""The public API is what each package's ``__all__`` says, and its users keep to it.

`.importlinter` holds services and the operator to the modules ``tidal`` and
``tidal.observability``, and the data plane to those, ``tidal.kafka`` and ``tidal.cli``; these
checks add the names: every package under ``src/tidal`` declares an ``__all__`` (empty: nothing
public there), every name it lists exists, services, the operator and the data plane import only
listed names, and ``bench/`` never imports the test suite (it shares the real servers through
``harness``).
Each check is also run on an injected violation.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = ("tidal", "tidal.observability", "tidal.kafka", "tidal.cli")


def packages() -> list[str]:
    return sorted(
        ".".join(init.parent.relative_to(ROOT / "src").parts)
        for init in (ROOT / "src" / "tidal").rglob("__init__.py")
    )


@pytest.mark.parametrize("package", packages())
def test_every_package_declares_its_public_names_and_they_exist(package: str) -> None:
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None)
    assert isinstance(names, list), f"{package} has no __all__"
    assert names == sorted(names), f"{package}.__all__ is not sorted"
    assert [name for name in names if not hasattr(module, name)] == []


def imported_names(source: str) -> Iterator[tuple[str, str, int]]:
    """(module, name, line) of every ``from <public module> import name`` in ``source``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module in PUBLIC and node.level == 0:
            for alias in node.names:
                yield node.module, alias.name, node.lineno


def private_uses(source: str) -> list[str]:
    """The names ``source`` imports from tidal's public modules that their ``__all__`` omits."""
    return [
        f"{module}.{name} (line {line})"
        for module, name, line in imported_names(source)
        if name not in importlib.import_module(module).__all__
    ]


def users() -> Iterator[Path]:
    yield from sorted((ROOT / "services").rglob("*.py"))
    yield from sorted((ROOT / "operator" / "tidal_operator").rglob("*.py"))
    yield from sorted((ROOT / "operator" / "tidal_data").rglob("*.py"))


def test_services_the_operator_and_the_data_plane_import_only_public_names() -> None:
    found = {str(path.relative_to(ROOT)): private_uses(path.read_text()) for path in users()}
    assert {path: uses for path, uses in found.items() if uses} == {}


def test_a_name_outside_all_is_caught() -> None:
    assert private_uses("from tidal import App, Dispatcher\n") == ["tidal.Dispatcher (line 1)"]
    assert private_uses("from tidal.observability import hooks\n") == [
        "tidal.observability.hooks (line 1)"
    ]
    assert private_uses("from tidal.kafka import make_admin\n") == [
        "tidal.kafka.make_admin (line 1)"
    ]


def suite_uses(source: str) -> list[str]:
    """Where ``source`` imports the test suite or runs one of its modules (``-m tests.``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value] if node.value.startswith("tests.") else []
        else:
            continue
        found += [f"{name} (line {node.lineno})" for name in names if name.split(".")[0] == "tests"]
    return found


def test_bench_never_imports_the_test_suite() -> None:
    found = {
        str(path.relative_to(ROOT)): suite_uses(path.read_text())
        for path in sorted((ROOT / "bench").rglob("*.py"))
    }
    assert {path: uses for path, uses in found.items() if uses} == {}


def test_a_bench_import_of_the_suite_is_caught() -> None:
    assert suite_uses("from tests.support.servers import free_port\n") == [
        "tests.support.servers (line 1)"
    ]
    assert suite_uses('cmd = ["python", "-m", "tests.observability.apps.launch"]\n') == [
        "tests.observability.apps.launch (line 1)"
    ]


PUBLIC_MODULES = frozenset(
    {
        "tidal",
        "tidal.cli",
        "tidal.cli.__main__",
        "tidal.cli.main",
        "tidal.kafka",
        "tidal.observability",
        "tidal.testing",
    }
)
"""The modules users and the other distributions may import; every other one is `_`-marked."""


def runtime_modules() -> list[str]:
    src = ROOT / "src"
    return sorted(
        ".".join(path.with_suffix("").relative_to(src).parts).removesuffix(".__init__")
        for path in (src / "tidal").rglob("*.py")
    )


def unmarked(modules: list[str]) -> list[str]:
    """The modules neither public nor under a ``_``-prefixed name (kopf's ``kopf._core``)."""
    return [
        name
        for name in modules
        if name not in PUBLIC_MODULES
        and not any(part.startswith("_") for part in name.split(".")[1:] if part != "__main__")
    ]


def test_internals_are_marked_private() -> None:
    modules = runtime_modules()
    assert "tidal._dispatching" in modules
    assert "tidal.kafka" in modules
    assert unmarked(modules) == []


def test_an_unmarked_internal_module_is_caught() -> None:
    found = ["tidal.dispatching", "tidal._stores.redis", "tidal.cli.main", "tidal.cli.run"]
    assert unmarked(found) == ["tidal.dispatching", "tidal.cli.run"]


def test_errors_name_the_module_users_import_them_from() -> None:
    import tidal

    assert tidal.RetryableError.__module__ == "tidal"
    assert repr(tidal.InvalidEventError("x")) == "InvalidEventError('x')"
