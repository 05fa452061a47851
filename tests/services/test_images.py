"""The services' image recipes, checked without a Docker engine: two stages on one pinned base,
an unprivileged user, extras that exist, files that exist, an entry point that imports."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "fleet", "orders")
PINNED = re.compile(r"^python:\d+\.\d+\.\d+-slim-[a-z]+$")


def instructions(service: str) -> list[tuple[str, str]]:
    text = (ROOT / "services" / service / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_builds_in_two_stages_on_one_pinned_base(service: str) -> None:
    bases = [args.split()[0] for op, args in instructions(service) if op == "FROM"]
    assert len(bases) == 2
    assert bases[0] == bases[1]
    assert PINNED.match(bases[0]), bases[0]
    final = instructions(service)[[op for op, _ in instructions(service)].index("FROM", 1) :]
    assert not any(op == "RUN" and "pip install" in args for op, args in final)


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_runs_as_an_unprivileged_user(service: str) -> None:
    users = [args for op, args in instructions(service) if op == "USER"]
    assert users, "no USER instruction"
    uid = users[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) >= 10000


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_installs_extras_that_exist_and_copies_files_that_exist(service: str) -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for op, args in instructions(service):
        if op == "RUN" and "pip install" in args:
            wanted = re.search(r'"\.\[([^\]]+)\]"', args)
            assert wanted is not None
            assert set(wanted.group(1).split(",")) <= set(extras)
            assert service in wanted.group(1).split(",")
        if op == "COPY" and "--from" not in args:
            source = args.split()[0]
            assert (ROOT / source).exists(), source


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_entry_point_names_an_importable_module(service: str) -> None:
    ops = dict(instructions(service))
    entry = ops["ENTRYPOINT"]
    target = entry.split('"-m", "')[1].split('"')[0] if '"-m"' in entry else ops["CMD"]
    module = target.strip('[]"').split(":")[0]
    assert importlib.import_module(module) is not None
