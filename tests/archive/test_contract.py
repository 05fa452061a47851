"""The operator's children run command lines our click commands accept: every child the
operator builds from the samples (and variants covering every flag) is parsed by the ``tidal``
CLI, so the contract of docs/operator.md cannot drift."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from tidal.cli.main import cli
from tidal_data.cli.shared import store_config
from tidal_operator.config import OperatorConfig
from tidal_operator.reconciling import BACKUP_POLICY, DLQ_ARCHIVE, plan

SAMPLES = Path(__file__).resolve().parents[2] / "k8s" / "samples"


def _sample(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((SAMPLES / name).read_text()))


def _variants() -> list[dict[str, Any]]:
    daily, continuous, archive = (
        _sample(n)
        for n in ("backuppolicy-daily.yaml", "backuppolicy-continuous.yaml", "dlqarchive.yaml")
    )
    kms = copy.deepcopy(daily)
    kms["spec"]["encryption"] = {
        "mode": "ServerSide",
        "serverSide": {"algorithm": "aws:kms", "kmsKeyId": "arn:aws:kms:eu-west-1:1:key/x"},
    }
    kms["spec"]["retention"] = {"maxAge": "1w2d", "maxCount": 7}
    kms["spec"]["sources"]["include"] = ["orders\\..*"]
    kms["spec"]["sources"]["exclude"] = [".*\\.dlq"]
    kms["spec"]["sources"]["consumerGroups"] = ["billing", "crm"]
    kms["spec"]["restoreTest"] = {"kafka": {"bootstrapServers": "scratch:9092"}}
    kms["spec"]["destination"].update(endpoint="http://minio:9000", forcePathStyle=True)
    kms["spec"]["destination"]["objectLock"] = {"mode": "Compliance", "retentionDays": 40}
    client_side = copy.deepcopy(daily)
    client_side["spec"]["encryption"] = {
        "mode": "ClientSide",
        "clientSide": {"keySecretRef": {"name": "k"}, "previousKeySecretRefs": [{"name": "k0"}]},
    }
    client_side["spec"]["restoreTest"] = {
        "kafka": {"bootstrapServers": "scratch:9092", "credentialsSecretName": "scratch"},
        "scratchTopicPrefix": "proof.",
    }
    client_side["spec"]["destination"]["restoreTarget"] = {
        "kafka": {"bootstrapServers": "dr:9092"},
        "topicPrefix": "dr.",
    }
    redrive_to = copy.deepcopy(archive)
    redrive_to["spec"]["redrive"].update(target={"topic": "orders.retry"}, dryRun=True)
    redrive_to["spec"]["partitioning"] = {"time": "Day", "byEventType": False}
    redrive_to["spec"]["compression"] = "none"
    return [daily, continuous, archive, kms, client_side, redrive_to]


def _commands(body: dict[str, Any]) -> list[list[str]]:
    kind = BACKUP_POLICY if body["kind"] == "BackupPolicy" else DLQ_ARCHIVE
    planned = plan(kind, body, OperatorConfig())
    assert planned.valid, planned
    found = []
    for child in planned.children:
        spec = child["spec"]
        template = spec.get("jobTemplate", {}).get("spec", spec).get("template")
        if template is None:
            continue  # the ScaledObject
        (container,) = template["spec"]["containers"]
        assert container["command"] == ["tidal"]
        found.append(container["args"])
    return found


def _parse(args: list[str]) -> tuple[click.Command, dict[str, Any]]:
    """Resolve the (sub)command and parse its options exactly as a run would."""
    ctx = click.Context(cli, info_name="tidal")
    command: click.Command = cli
    rest = list(args)
    while isinstance(command, click.Group):
        name, *rest = rest
        sub = command.get_command(ctx, name)
        assert sub is not None, f"no command {name!r}"
        ctx = click.Context(sub, info_name=name, parent=ctx)
        command = sub
    leaf = command.make_context(ctx.info_name, rest, parent=ctx.parent)
    assert not leaf.args, f"left over arguments {leaf.args}"
    return command, leaf.params


@pytest.mark.parametrize("body", _variants(), ids=lambda b: b["kind"] + "/" + b["metadata"]["name"])
def test_every_child_command_line_parses(body: dict[str, Any], tmp_path: Path) -> None:
    commands = _commands(body)
    assert commands
    for args in commands:
        _, params = _parse(args)
        assert params["result_file"] == Path("/dev/termination-log")
        if "bucket" in params and params.get("encryption") != "client-side":
            store_config(params)  # the flag combination is accepted too
        if params.get("encryption") == "client-side":
            assert params["encryption_key_file"] == Path("/var/run/tidal/encryption/key")


def test_the_contract_flags_are_the_ones_documented() -> None:
    daily = _commands(_sample("backuppolicy-daily.yaml"))[0]
    assert daily[:2] == ["backup", "run"]
    _, params = _parse(daily)
    assert params["verify"] is True
    assert params["keep_last_verified"] is True
    assert params["retention_max_age"].days == 35
    drain, prune, redrive = _commands(_sample("dlqarchive.yaml"))
    assert [drain[:2], prune[:2], redrive[:2]] == [
        ["dlq", "drain"],
        ["dlq", "prune"],
        ["dlq", "redrive"],
    ]
    _, params = _parse(redrive)
    assert params["types"] == ("com.acme.pos.order.confirmed.v1",)
    assert params["rate_limit"] == 200


def test_the_sample_redrive_filters_on_error_classes_letters_record() -> None:
    """Issue 16, finding 10: letters record ``type(exc).__name__`` (`tidal._deadletters`), so a
    qualified name like ``tidal.HandlerTimeoutError`` never matches."""
    import tidal._errors

    classes = _sample("dlqarchive.yaml")["spec"]["redrive"]["filter"]["errorClasses"]
    assert classes
    for name in classes:
        assert "." not in name, name
        assert isinstance(getattr(tidal._errors, name, None), type), name
