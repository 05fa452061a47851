"""Every rendered object of every chart scenario, and of the dev loop, meets the upstream rules.

The cluster is what bootstrap.sh makes of Knative's defaults (its config-features patch); the
dev loop's objects are rendered from skaffold's values with its image names, which Knative must
not try to resolve at a registry.
"""

from __future__ import annotations

import pytest
from tests.deploy.rendering import SCENARIOS, render, rendered
from tests.deploy.skaffold import SKAFFOLD, dev_values, patched
from tests.fidelity.catalog import RULES
from tests.fidelity.rules import Cluster, bootstrap_configs, violations
from tests.fidelity.serving import features

PROFILES = ("knative", "kafka-keda")


def cluster(docs: list[dict[str, object]], *, local_images: bool = False) -> Cluster:
    return Cluster(features(bootstrap_configs()), tuple(docs), local_images)  # type: ignore[arg-type]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_object_of_every_scenario_meets_the_upstream_rules(scenario: str) -> None:
    docs = list(rendered(scenario))
    assert docs
    assert violations(RULES, docs, cluster(docs)) == []


@pytest.mark.parametrize("profile", PROFILES)
def test_the_dev_loop_objects_meet_the_upstream_rules(profile: str) -> None:
    docs = render(dev_values(patched(SKAFFOLD, profile)))
    assert docs
    assert violations(RULES, docs, cluster(docs, local_images=True)) == []


def test_the_scenarios_exercise_every_kind_the_rules_cover() -> None:
    docs = [doc for scenario in SCENARIOS for doc in rendered(scenario)]
    for rule in RULES:
        assert any(rule.applies(doc) for doc in docs), rule.id
