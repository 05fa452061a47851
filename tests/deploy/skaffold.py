"""skaffold.yaml as the tests read it: profiles applied, values layered, images filled in.

Used by tests/deploy (the dev loop's files) and tests/fidelity (the dev loop's rendered objects).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml
from tests.deploy.rendering import ROOT, deep_merge, load_yaml

SKAFFOLD: dict[str, Any] = yaml.safe_load((ROOT / "skaffold.yaml").read_text())


def pointer(path: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in path.strip("/").split("/")]


def patched(config: dict[str, Any], profile: str) -> dict[str, Any]:
    """skaffold's profile patches applied (the replace, add and remove operations used)."""
    result = copy.deepcopy(config)
    [spec] = [p for p in config["profiles"] if p["name"] == profile]
    for patch in spec.get("patches", []):
        *parents, last = pointer(patch["path"])
        node: Any = result
        for key in parents:
            node = node[key]
        if patch["op"] == "remove":
            del node[last]
        else:
            assert patch["op"] in ("replace", "add")
            node[last] = patch["value"]
    return result


def sanitized(image: str) -> str:
    """skaffold's template name of an artifact: every non-alphanumeric character as ``_``."""
    return re.sub(r"[^A-Za-z0-9]", "_", image)


def skaffold_value(template: str) -> str:
    """A setValueTemplates template as skaffold fills it for a built image, tagged t1."""
    artifacts = {sanitized(a["image"]): a["image"] for a in SKAFFOLD["build"]["artifacts"]}

    def fill(match: re.Match[str]) -> str:
        kind, artifact = match.group(1), artifacts[match.group(2)]
        return {"IMAGE_REPO": artifact, "IMAGE_TAG": "t1"}[kind]

    return re.sub(r"\{\{\.(IMAGE_REPO|IMAGE_TAG)_(\w+?)\}\}", fill, template)


def dev_values(config: dict[str, Any]) -> dict[str, Any]:
    """The values skaffold deploys with ``config`` (a profile applied), images filled in."""
    [release] = config["deploy"]["helm"]["releases"]
    values: dict[str, Any] = {}
    for path in release["valuesFiles"]:
        values = deep_merge(values, load_yaml(ROOT / path))
    for key, template in release["setValueTemplates"].items():
        assert "DIGEST" not in template, key
        assert "FULLY_QUALIFIED" not in template, key
        *parents, last = key.split(".")
        node = values
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = skaffold_value(template)
    return values
