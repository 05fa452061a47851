"""`tidal manifests --event-types`: Knative EventTypes with the payload schemas, validated
against the pinned EventType CRD (../shared/crds), strictly: a field the CRD does not declare
fails, as `kubectl apply --validate=strict` would refuse it instead of pruning it silently."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from tests.asyncapi.typed_app import HIGH_VALUE, ORDER, Order, app
from tests.support.crds import shared_crd

from tidal._manifests.eventtypes import API_VERSION, event_types
from tidal.cli.main import cli


def crd_version(name: str) -> dict[str, Any]:
    crd = yaml.safe_load(shared_crd("eventing.knative.dev_eventtypes.yaml").read_text())
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == name]
    return version  # type: ignore[no-any-return]


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every object closed to the properties it declares."""
    schema = copy.deepcopy(schema)
    stack = [schema]
    while stack:
        node = stack.pop()
        if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            node.setdefault("additionalProperties", False)
        stack.extend(node.get("properties", {}).values())
        if isinstance(node.get("items"), dict):
            stack.append(node["items"])
    return schema


def validate(doc: dict[str, Any]) -> None:
    version = API_VERSION.split("/")[1]
    schema = strict(crd_version(version)["schema"]["openAPIV3Schema"])
    schema["properties"] |= {
        "apiVersion": {"const": API_VERSION},
        "kind": {"const": "EventType"},
        "metadata": {"type": "object"},
    }
    jsonschema.Draft202012Validator(schema).validate(doc)


def test_the_version_written_is_served_stored_and_has_schema_data() -> None:
    version = crd_version(API_VERSION.split("/")[1])
    assert version["served"]
    assert version["storage"]
    assert "schemaData" in version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]


def test_every_event_type_validates_against_the_crd() -> None:
    docs = event_types(app, broker="default")
    assert docs
    for doc in docs:
        validate(doc)


def test_the_strict_check_refuses_a_field_the_crd_does_not_declare() -> None:
    doc = event_types(app, broker="default")[0]
    doc["spec"]["attributes"] = [{"name": "type"}]  # v1beta3's field, unknown to v1beta2
    with pytest.raises(jsonschema.ValidationError, match="'attributes' was unexpected"):
        validate(doc)


def test_emitted_and_typed_consumed_types_carry_the_model_schema() -> None:
    by_type = {d["spec"]["type"]: d["spec"] for d in event_types(app, broker="b")}
    assert list(by_type) == [HIGH_VALUE, "com.acme.audit.recorded.v1", ORDER, "com.acme.ping.v1"]
    assert "schemaData" not in by_type["com.acme.audit.recorded.v1"]  # emitted, untyped
    assert by_type[ORDER]["source"] == "/pos"
    assert by_type[ORDER]["reference"] == {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Broker",
        "name": "b",
    }
    schema = json.loads(by_type[ORDER]["schemaData"])
    validator = jsonschema.Draft202012Validator(schema)
    validator.check_schema(schema)
    good = {"orderId": "o", "total": 1.0, "items": [{"sku": "A", "qty": 1}]}
    assert validator.is_valid(good)
    assert Order.model_validate(good)
    bad = {"orderId": "o", "total": 1.0, "items": [{"sku": "A", "qty": 0}]}
    assert [list(e.absolute_path) for e in validator.iter_errors(bad)] == [["items", 0, "qty"]]


def test_the_command_adds_event_types_only_when_asked() -> None:
    runner = CliRunner()
    reference = "tests.asyncapi.typed_app:app"
    plain = runner.invoke(cli, ["manifests", reference, "--mode", "knative"])
    with_types = runner.invoke(cli, ["manifests", reference, "--mode", "knative", "--event-types"])
    assert plain.exit_code == with_types.exit_code == 0, with_types.output
    kinds = [d["kind"] for d in yaml.safe_load_all(with_types.output)]
    assert kinds.count("EventType") == 4
    assert "EventType" not in plain.output
    for doc in yaml.safe_load_all(with_types.output):
        if doc["kind"] == "EventType":
            validate(doc)
