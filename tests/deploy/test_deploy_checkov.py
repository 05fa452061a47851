"""checkov over every rendered scenario and both Dockerfiles, in one run per session: 0 failed
checks, and every skip says why. A canary manifest with known faults proves the scan bites."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.deploy.rendering import ROOT, SCENARIOS, render_texts, scenario_values

CHECKOV = Path(os.environ.get("CHECKOV", ROOT / ".venv-checkov" / "bin" / "checkov"))
DOCKERFILES = {"root": ROOT / "Dockerfile", "operator": ROOT / "operator" / "Dockerfile"}
CANARY = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "canary", "namespace": "default"},
    "spec": {
        "containers": [
            {"name": "c", "image": "busybox:latest", "securityContext": {"privileged": True}}
        ]
    },
}

Results = dict[str, dict[str, Any]]


def write_inputs(directory: Path) -> None:
    for scenario in SCENARIOS:
        for template, text in render_texts(scenario_values(scenario)).items():
            target = directory / "rendered" / scenario / template.replace("/", "_")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    for name, dockerfile in DOCKERFILES.items():
        (directory / "docker" / name).mkdir(parents=True)
        shutil.copy(dockerfile, directory / "docker" / name / "Dockerfile")
    (directory / "canary").mkdir()
    (directory / "canary" / "pod.yaml").write_text(yaml.safe_dump(CANARY), encoding="utf-8")


@pytest.fixture(scope="session")
def checkov(tmp_path_factory: pytest.TempPathFactory) -> Results:
    if not CHECKOV.is_file():
        pytest.fail(f"checkov is not at {CHECKOV}: run `make checkov` (or set CHECKOV)")
    directory = tmp_path_factory.mktemp("checkov")
    write_inputs(directory)
    config = ROOT / ".checkov.yaml"
    command = [str(CHECKOV), "--config-file", str(config), "-d", str(directory), "-o", "json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.stdout.lstrip().startswith(("[", "{")), done.stderr[-2000:]
    reports = json.loads(done.stdout)
    reports = [reports] if isinstance(reports, dict) else reports  # one framework: no list
    return {report["check_type"]: report for report in reports}


def failed(report: dict[str, Any], *, canary: bool) -> list[str]:
    return [
        f"{c['check_id']} {c['file_path']} {c['resource']}"
        for c in report["results"]["failed_checks"]
        if c["file_path"].startswith("/canary/") == canary
    ]


def test_the_rendered_chart_passes_every_kubernetes_check(checkov: Results) -> None:
    report = checkov["kubernetes"]
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] > 50
    assert failed(report, canary=False) == []


def test_the_dockerfiles_pass_every_dockerfile_check(checkov: Results) -> None:
    report = checkov["dockerfile"]
    assert report["summary"]["resource_count"] == len(DOCKERFILES)
    assert report["summary"]["passed"] > 0
    assert failed(report, canary=False) == []


def test_every_skip_gives_its_reason(checkov: Results) -> None:
    skipped = [c for report in checkov.values() for c in report["results"]["skipped_checks"]]
    assert skipped
    assert [
        c["check_id"] for c in skipped if len(c["check_result"].get("suppress_comment", "")) < 20
    ] == []


def test_the_scan_catches_a_faulty_manifest(checkov: Results) -> None:
    caught = {line.split()[0] for line in failed(checkov["kubernetes"], canary=True)}
    assert {"CKV_K8S_16", "CKV_K8S_14"} <= caught  # privileged container, image tagged latest
