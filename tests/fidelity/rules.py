"""The fidelity rule framework: a rule checks one kind of rendered object against upstream.

A ``Rule`` names the upstream code it restates (``Cite``), the objects it applies to, and a
check yielding one message per violation. ``Cluster`` is what the objects meet: the Knative
Serving feature flags bootstrap.sh sets (over Knative's defaults), every object of the release
(for references), and whether images come from a local build (the dev loop). Used by the rule
modules (serving, eventing, keda) and by the tests of tests/fidelity.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from tests.fidelity.upstream import Cite

Doc = dict[str, Any]
ROOT: Final = Path(__file__).resolve().parents[2]
BOOTSTRAP: Final = ROOT / "k8s" / "dev" / "bootstrap.sh"
PATCH: Final = re.compile(r"configmap (config-[a-z-]+) --type merge\s*\\?\s*-p '(\{.*?\})'", re.S)


@dataclass(frozen=True)
class Cluster:
    """What the rendered objects are installed into."""

    features: Mapping[str, str]
    objects: Sequence[Doc] = ()
    local_images: bool = False
    configs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def has(self, kind: str, name: str) -> bool:
        return any(o["kind"] == kind and o["metadata"]["name"] == name for o in self.objects)


@dataclass(frozen=True)
class Rule:
    """One upstream behaviour, restated."""

    id: str
    cites: tuple[Cite, ...]
    applies: Callable[[Doc], bool]
    check: Callable[[Doc, Cluster], Iterable[str]]


@dataclass(frozen=True)
class Violation:
    rule: str
    obj: str
    message: str


def is_kind(api: str, kind: str) -> Callable[[Doc], bool]:
    return lambda doc: doc.get("apiVersion") == api and doc.get("kind") == kind


def violations(rules: Iterable[Rule], docs: Sequence[Doc], cluster: Cluster) -> list[Violation]:
    """Every violation of every rule by every object."""
    found = []
    for rule in rules:
        for doc in docs:
            if rule.applies(doc):
                name = f"{doc['kind']}/{doc['metadata']['name']}"
                found += [Violation(rule.id, name, m) for m in rule.check(doc, cluster)]
    return found


def bootstrap_configs(script: Path = BOOTSTRAP) -> dict[str, dict[str, str]]:
    """The ConfigMap data bootstrap.sh merges into Knative's configs (``kubectl patch``)."""
    configs: dict[str, dict[str, str]] = {}
    for name, body in PATCH.findall(script.read_text(encoding="utf-8")):
        configs.setdefault(name, {}).update(json.loads(body)["data"])
    return configs


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) under a mapping (lists by index)."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")
