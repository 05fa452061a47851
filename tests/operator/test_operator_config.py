"""Operator settings from TIDAL_OPERATOR_* variables, and the entry point kopf runs."""

from __future__ import annotations

import importlib

import kopf

from tidal_operator.config import OperatorConfig


def test_settings_come_from_prefixed_variables_and_default_otherwise() -> None:
    config = OperatorConfig.from_env(
        {
            "TIDAL_OPERATOR_IMAGE": "registry.example/tidal:2.0.0",
            "TIDAL_OPERATOR_RESYNC_INTERVAL": "15",
            "TIDAL_OPERATOR_SERVICE_ACCOUNT": "runner",
            "UNRELATED": "x",
        }
    )
    assert config.image == "registry.example/tidal:2.0.0"
    assert config.resync_interval == 15.0
    assert config.service_account == "runner"
    assert config.image_pull_policy == OperatorConfig().image_pull_policy
    assert config.metrics_port == 9090


def test_the_metrics_port_is_an_integer_and_zero_turns_it_off() -> None:
    config = OperatorConfig.from_env({"TIDAL_OPERATOR_METRICS_PORT": "0"})
    assert config.metrics_port == 0
    port = OperatorConfig.from_env({"TIDAL_OPERATOR_METRICS_PORT": "9191"}).metrics_port
    assert (port, type(port)) == (9191, int)


def test_the_entry_point_registers_with_kopfs_default_registry() -> None:
    main = importlib.import_module("tidal_operator.main")
    assert callable(main.login_in_cluster)
    assert isinstance(kopf.get_default_registry(), kopf.OperatorRegistry)
