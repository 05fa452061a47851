"""`tidal asyncapi`: the App's AsyncAPI 3.0 document, validated against the official AsyncAPI
3.0.0 JSON Schema (vendored in ``spec/``, see its README) with ``jsonschema``."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from jsonschema.validators import validator_for
from tests.asyncapi.typed_app import HIGH_VALUE, app

from tidal._asyncapi import document
from tidal._settings import KafkaSettings
from tidal.cli.main import cli

SPEC = Path(__file__).parent / "spec" / "3.0.0.json"


@cache
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SPEC.read_text(encoding="utf-8"))
    cls = validator_for(schema)
    assert cls is jsonschema.Draft7Validator  # what the schema's $schema names
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def errors(doc: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator().iter_errors(doc)]


def resolve(doc: dict[str, Any], ref: str) -> Any:
    """A local ``#/a/b`` reference inside ``doc``."""
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


@pytest.mark.parametrize("transport", ["http", "kafka"])
def test_the_document_is_valid_asyncapi_3_and_every_reference_resolves(transport: str) -> None:
    kafka = KafkaSettings(topics=["events"], emit_topic="emitted")
    doc = document(app, transport=transport, kafka=kafka)  # type: ignore[arg-type]
    assert errors(doc) == []
    for ref in refs(doc):
        assert resolve(doc, ref) is not None, ref


def test_the_official_schema_refuses_what_is_wrong() -> None:
    doc = document(app)
    doc["channels"]["high-value"]["bogus"] = 1
    doc["operations"]["receive-ping"]["action"] = "publish"  # AsyncAPI 2's verb
    assert len(errors(doc)) == 2


def test_one_channel_and_receive_operation_per_subscription_and_send_per_emitted_type() -> None:
    doc = document(app)
    subscriptions = [s.name for s in app.subscriptions]
    assert list(doc["channels"]) == [*subscriptions, "emitted.events"]
    assert [k for k, v in doc["operations"].items() if v["action"] == "receive"] == [
        f"receive-{s}" for s in subscriptions
    ]
    sends = {k: v for k, v in doc["operations"].items() if v["action"] == "send"}
    assert list(sends) == [f"send-{HIGH_VALUE}", "send-com.acme.audit.recorded.v1"]
    assert doc["channels"]["high-value"]["address"] == "/high-value"  # the route tidal run serves


def test_filters_are_rendered_as_the_trigger_and_content_pattern() -> None:
    channels = document(app)["channels"]
    assert channels["high-value"]["x-knative-trigger"] == {
        "filter": {"attributes": {"type": "com.acme.pos.order.confirmed.v1", "source": "/pos"}}
    }
    assert channels["high-value"]["x-tidal-data-pattern"] == {"total": [{"numeric": [">", 100]}]}
    assert channels["readings"]["x-knative-trigger"] == {
        "filters": [{"prefix": {"type": "com.acme.fleet."}}]
    }
    assert "Content pattern on data" in channels["high-value"]["description"]


def test_messages_carry_cloudevents_headers_and_the_model_schema() -> None:
    doc = document(app)
    message = doc["components"]["messages"]["high-value"]
    headers = message["headers"]
    assert headers["required"] == ["ce-specversion", "ce-id", "ce-source", "ce-type"]
    assert headers["properties"]["ce-type"]["const"] == "com.acme.pos.order.confirmed.v1"
    assert headers["properties"]["ce-source"]["const"] == "/pos"
    assert message["payload"] == {"$ref": "#/components/schemas/Order"}
    order = doc["components"]["schemas"]["Order"]
    assert order["required"] == ["orderId", "total", "items"]
    assert order["properties"]["items"]["items"] == {"$ref": "#/components/schemas/Line"}
    assert doc["components"]["schemas"]["Line"]["properties"]["qty"]["exclusiveMinimum"] == 0
    assert doc["components"]["messages"]["readings"]["payload"] == {
        "$ref": "#/components/schemas/Reading"
    }
    assert "payload" not in doc["components"]["messages"]["raw"]  # untyped: any data
    emitted = doc["components"]["messages"][HIGH_VALUE]
    assert emitted["payload"] == {"$ref": "#/components/schemas/HighValueOrder"}


def test_kafka_uses_ce_underscore_headers_topics_and_consumer_groups() -> None:
    kafka = KafkaSettings(topics=["orders"], emit_topic="orders.out", group_id_prefix="g")
    doc = document(app, transport="kafka", kafka=kafka)
    headers = doc["components"]["messages"]["ping"]["headers"]["properties"]
    assert "ce_type" in headers
    assert "ce-type" not in headers
    assert doc["channels"]["ping"]["address"] == "orders"
    assert doc["channels"]["ping"]["bindings"]["kafka"]["topic"] == "orders"
    group = doc["operations"]["receive-ping"]["bindings"]["kafka"]["groupId"]
    assert group == {"type": "string", "const": "g.typed-orders"}
    assert doc["channels"]["emitted.events"]["address"] == "orders.out"


def test_the_command_prints_yaml_or_json() -> None:
    runner = CliRunner()
    reference = "tests.asyncapi.typed_app:app"
    as_yaml = runner.invoke(cli, ["asyncapi", reference])
    assert as_yaml.exit_code == 0, as_yaml.output
    as_json = runner.invoke(cli, ["asyncapi", reference, "--json", "--transport", "kafka"])
    assert as_json.exit_code == 0, as_json.output
    assert yaml.safe_load(as_yaml.output) == document(app)
    parsed = json.loads(as_json.output)
    assert errors(parsed) == []
    assert "ce_id" in parsed["components"]["messages"]["raw"]["headers"]["properties"]


def test_an_unknown_app_is_a_clear_error() -> None:
    result = CliRunner().invoke(cli, ["asyncapi", "tests.asyncapi.typed_app:nothing"])
    assert result.exit_code != 0
    assert "has no attribute 'nothing'; it has tests.asyncapi.typed_app:app" in result.output
