"""The image recipes, checked without a Docker engine, for every image skaffold builds: a
pinned base, a builder stage holding the build tools, a final image running as an unprivileged
user, COPY sources that exist (and that .dockerignore lets through), extras and entry points
that exist; the data plane in the image the operator's children run, and only there."""

from __future__ import annotations

import fnmatch
import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.deploy.dockerfiles import Stage, chain, expand, stages
from tests.deploy.rendering import CHART, ROOT

PINNED = re.compile(r"^python:\d+\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?$")
ARTIFACTS: list[dict[str, Any]] = yaml.safe_load((ROOT / "skaffold.yaml").read_text())["build"][
    "artifacts"
]
IDS = [a["image"] for a in ARTIFACTS]


def built(artifact: dict[str, Any]) -> list[Stage]:
    docker = artifact["docker"]
    return chain(stages(ROOT / docker["dockerfile"]), docker.get("target"))


def build_args(artifact: dict[str, Any]) -> dict[str, str]:
    return {"PATH": "$PATH", **artifact["docker"].get("buildArgs", {})}


def test_every_image_of_the_project_is_built() -> None:
    names = {
        "tidal-fleet",
        "tidal-orders",
        "tidal-files",
        "tidal-gateway",
        "tidal",
        "tidal-operator",
    }
    assert set(IDS) == {f"kind.local/{name}" for name in names}
    assert not list((ROOT / "services").glob("*/Dockerfile")), "one recipe: the root Dockerfile"


@pytest.mark.parametrize("artifact", ARTIFACTS, ids=IDS)
def test_every_stage_starts_from_one_pinned_base(artifact: dict[str, Any]) -> None:
    every = stages(ROOT / artifact["docker"]["dockerfile"])
    names = {s.name for s in every}
    bases = {s.base for s in every if s.base not in names}
    assert len(bases) == 1
    assert PINNED.match(bases.pop())


@pytest.mark.parametrize("artifact", ARTIFACTS, ids=IDS)
def test_the_final_image_holds_no_build_step_and_runs_unprivileged(
    artifact: dict[str, Any],
) -> None:
    lineage = built(artifact)
    runs = [args for stage in lineage for args in stage.args("RUN")]
    assert not any("pip install" in run or "apt-get" in run for run in runs)
    assert builder(artifact).name.endswith("builder")
    users = [args for stage in lineage for args in stage.args("USER")]
    assert users, "no USER instruction"
    uid, _, gid = users[-1].partition(":")
    assert int(uid) >= 10000
    assert int(gid) >= 10000


def test_the_users_match_the_charts_and_manifests_security_contexts() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    by_image = {
        a["image"].removeprefix("kind.local/"): built(a)[-1].args("USER")[-1] for a in ARTIFACTS
    }
    uid = values["podSecurityContext"]["runAsUser"]
    for image in ("tidal-fleet", "tidal-orders", "tidal-files", "tidal-gateway", "tidal"):
        assert by_image[image] == f"{uid}:{uid}"
    operator = values["operator"]["runAsUser"]
    assert by_image["tidal-operator"] == f"{operator}:{operator}"
    manifest = yaml.safe_load_all((ROOT / "k8s" / "operator" / "deployment.yaml").read_text())
    [deployment] = [d for d in manifest if d["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == operator


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context (last match wins)."""
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.removeprefix("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, glob) for p in prefixes):
            verdict = not negated
    return verdict


def builder(artifact: dict[str, Any]) -> Stage:
    """The stage whose virtualenv the image copies (exactly one)."""
    every = stages(ROOT / artifact["docker"]["dockerfile"])
    venvs = [
        copy.split()[0].removeprefix("--from=")
        for stage in built(artifact)
        for copy in stage.args("COPY")
        if copy.startswith("--from=") and copy.split()[1] == "/opt/venv"
    ]
    assert len(venvs) == 1, venvs
    return next(s for s in every if s.name == venvs[0])


def builders(artifact: dict[str, Any]) -> list[Stage]:
    """That builder with the stages it is built on."""
    return chain(stages(ROOT / artifact["docker"]["dockerfile"]), builder(artifact).name)


def installed(artifact: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(distribution directory, extras) of each local distribution the builder installs."""
    stage = builder(artifact)
    defaults = dict(a.split("=", 1) for a in stage.args("ARG") if "=" in a)
    [install] = [r for r in stage.args("RUN") if "pip install" in r]
    command = expand(install, {**defaults, **build_args(artifact)})
    targets = re.findall(r'"(\.[\w./]*)(?:\[([^\]]+)\])?"', command.split("&&")[0])
    assert targets, command
    return [(path, wanted.split(",") if wanted else []) for path, wanted in targets]


@pytest.mark.parametrize("artifact", ARTIFACTS, ids=IDS)
def test_every_copied_source_exists_and_is_in_the_build_context(artifact: dict[str, Any]) -> None:
    patterns = [
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    copies = [c for stage in [*builders(artifact), *built(artifact)] for c in stage.args("COPY")]
    for copy in copies:
        if copy.startswith("--from="):
            continue
        for source in expand(copy, build_args(artifact)).split()[:-1]:
            assert (ROOT / source).exists(), source
            assert not ignored(source.rstrip("/"), patterns), f"{source} is in .dockerignore"


@pytest.mark.parametrize("artifact", ARTIFACTS, ids=IDS)
def test_the_extras_installed_exist(artifact: dict[str, Any]) -> None:
    extras: list[str] = []
    for path, wanted in installed(artifact):  # each a distribution of the repository
        project = tomllib.loads((ROOT / path / "pyproject.toml").read_text())["project"]
        assert set(wanted) <= set(project.get("optional-dependencies", {}))
        extras += wanted
        packages = tomllib.loads((ROOT / path / "pyproject.toml").read_text())["tool"]
        for package in packages["setuptools"]["packages"]["find"].get("include", []):
            copied = [c for s in builders(artifact) for c in s.args("COPY")]
            name = package.rstrip("*")
            assert any(f"{path}/{name}".removeprefix("./") in c for c in copied), name
    service = build_args(artifact).get("SERVICE")
    if service:
        assert service in extras
        assert (ROOT / "services" / service / "app.py").is_file()


def test_the_childrens_image_has_the_data_plane_and_no_other_image_does() -> None:
    """Issue 19: the data plane moved to the operator's distribution (its data-plane extra);
    the `tidal` image the operator's Jobs, CronJobs and Deployments run (the chart's default
    child image) must install it, with the extra, the service images must not."""
    by_image = {a["image"].removeprefix("kind.local/"): installed(a) for a in ARTIFACTS}
    assert ("./operator", ["data-plane"]) in by_image["tidal"]
    for image in ("tidal-fleet", "tidal-orders", "tidal-files", "tidal-gateway"):
        assert [path for path, _ in by_image[image]] == ["."], image
    assert by_image["tidal-operator"] == [(".", []), ("./operator", [])]
    deployment = (CHART / "templates" / "operator" / "deployment.yaml").read_text()
    assert '"name" "tidal")) | quote }}' in deployment  # childImage defaults to that image


def test_the_operator_image_installs_the_runtime_and_the_operator_only() -> None:
    """Issue 19 item 8: the operator is a distribution of its own; its image holds the runtime
    without extras (no Kafka, HTTP or data-plane clients) and it, never the operator's sources
    on a PYTHONPATH. The distribution's own dependencies name no data-plane client either (they
    are its data-plane extra)."""
    [artifact] = [a for a in ARTIFACTS if a["image"] == "kind.local/tidal-operator"]
    [install] = [r for r in builder(artifact).args("RUN") if "pip install" in r]
    assert re.findall(r'"([^"]*)"', install.split("&&")[0]) == [".", "./operator"]
    envs = " ".join(e for s in built(artifact) for e in s.args("ENV"))
    assert "PYTHONPATH" not in envs
    project = tomllib.loads((ROOT / "operator" / "pyproject.toml").read_text())["project"]
    clients = {"aiokafka", "boto3", "zstandard", "cryptography", "tidal[kafka"}
    assert not [d for d in project["dependencies"] if d.startswith(tuple(clients))]


def test_the_dockerignore_check_would_catch_an_excluded_source() -> None:
    assert ignored("tests/deploy", ["*", "!src/"])
    assert not ignored("src/tidal", ["*", "!src/"])
    assert ignored("src/tidal/__pycache__", ["*", "!src/", "**/__pycache__"])


@pytest.mark.parametrize("artifact", ARTIFACTS, ids=IDS)
def test_the_entry_point_exists(artifact: dict[str, Any]) -> None:
    lineage = built(artifact)
    [entry] = [e for s in lineage for e in s.args("ENTRYPOINT")][-1:]
    command = yaml.safe_load(entry)
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    if command[0] == "python":
        assert importlib.import_module(command[command.index("-m") + 1]) is not None
    elif command[0] == "kopf":
        [cmd] = [c for s in lineage for c in s.args("CMD")]
        args = yaml.safe_load(cmd)
        assert importlib.import_module(args[args.index("-m") + 1]) is not None
    else:
        assert command[0] in scripts


def entry_module(artifact: dict[str, Any]) -> str | None:
    """The ``services`` module an image runs: its gateway, or the App of its SERVICE."""
    service = build_args(artifact).get("SERVICE")
    if service:
        return f"services.{service}.app"
    entries = [e for s in built(artifact) for e in s.args("ENTRYPOINT")][-1:]
    command = yaml.safe_load(entries[0]) if entries else []
    module = command[command.index("-m") + 1] if "-m" in command else ""
    if not module.startswith("services."):
        return None
    package = ROOT.joinpath(*module.split("."))
    return f"{module}.__main__" if package.is_dir() else module  # what `python -m` runs


@pytest.mark.parametrize("artifact", ARTIFACTS, ids=IDS)
def test_every_services_module_the_image_imports_is_copied(artifact: dict[str, Any]) -> None:
    """The image copies each file of ``services`` its entry point imports, run in a fresh
    interpreter: before, the App images lacked services/redis_clients.py (their stores import
    it) and the gateway would lack services/saga (its timeline route reads the saga's store)."""
    module = entry_module(artifact)
    if module is None:
        pytest.skip("the image runs no reference service")
    listing = (
        f"import sys, {module}; "
        "print('\\n'.join(m.__file__ for n, m in list(sys.modules.items())"
        " if n.split('.')[0] == 'services' and getattr(m, '__file__', None)))"
    )
    run = subprocess.run(
        [sys.executable, "-c", listing], cwd=ROOT, capture_output=True, text=True, check=True
    )
    imported = {Path(f).resolve().relative_to(ROOT).as_posix() for f in run.stdout.split()}
    copies = [c for stage in built(artifact) for c in stage.args("COPY")]
    sources = [
        source.rstrip("/")
        for copy in copies
        if not copy.startswith("--from=")
        for source in expand(copy, build_args(artifact)).split()[:-1]
    ]
    missing = sorted(
        f for f in imported if not any(f == s or f.startswith(f"{s}/") for s in sources)
    )
    assert not missing, f"{artifact['image']} imports files it does not copy: {missing}"
