"""bootstrap.sh's Knative configuration, read as Knative reads it (serving features.go)."""

from __future__ import annotations

from pathlib import Path

from tests.fidelity.rules import bootstrap_configs
from tests.fidelity.serving import features
from tests.fidelity.serving_fields import FEATURE_DEFAULTS, FLAGS


def test_every_flag_bootstrap_sets_is_one_knative_reads_with_a_value_it_reads() -> None:
    """features.go reads only its own keys and only Enabled / Allowed / Disabled (any case):
    anything else is ignored without a word (`kubernetes.podspec-emptydir` was)."""
    flags = bootstrap_configs()["config-features"]
    assert set(flags) <= set(FEATURE_DEFAULTS), set(flags) - set(FEATURE_DEFAULTS)
    assert all(value.lower() in {f.lower() for f in FLAGS} for value in flags.values())


def test_bootstrap_enables_the_pod_security_context_the_chart_sets() -> None:
    assert features(bootstrap_configs())["kubernetes.podspec-securitycontext"] == "Enabled"


def test_an_unknown_flag_or_value_is_caught(tmp_path: Path) -> None:
    script = tmp_path / "bootstrap.sh"
    script.write_text(
        "kubectl -n knative-serving patch configmap config-features --type merge \\\n"
        """    -p '{"data":{"kubernetes.podspec-emptydir":"enabled","""
        """"kubernetes.podspec-securitycontext":"on"}}'\n""",
        encoding="utf-8",
    )
    flags = bootstrap_configs(script)["config-features"]
    assert set(flags) - set(FEATURE_DEFAULTS) == {"kubernetes.podspec-emptydir"}
    assert features({"config-features": flags})["kubernetes.podspec-securitycontext"] == "Disabled"
