"""tidal's bindings against CloudEvents' own material (see README.md here for provenance): the
conformance repository's scenarios and events, the JSON format's examples with their binary
re-encodings, the spec's JSON Schema, and the C# SDK's header-value cases."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from tests.conformance.gherkin import Scenario, scenarios
from tests.conformance.strategies import events

from tidal._bindings import http, kafka
from tidal._bindings.http import encode_header, from_http, header_value
from tidal._errors import InvalidEventError
from tidal._events import Event

UPSTREAM = Path(__file__).parent / "upstream"
FEATURES = UPSTREAM / "conformance"
HEADER_CASES = json.loads((UPSTREAM / "sdk-csharp-header-values.json").read_text())


def _named(items: list[Scenario]) -> Any:
    return pytest.mark.parametrize("scenario", items, ids=[s.name for s in items])


def _expect(scenario: Scenario, event: Event) -> None:
    table = scenario.step("the attributes are").table
    assert {row[0]: row[1] for row in table[1:]} == {
        name: event.text(name) for name in event.get_attributes()
    }
    assert event.data == json.loads(scenario.step("the data is equal").doc or "")


@_named(scenarios(FEATURES / "http-protocol-binding.feature"))
def test_http_conformance_scenarios(scenario: Scenario) -> None:
    head, _, body = (scenario.step("an HTTP request").doc or "").partition("\n\n")
    lines = head.splitlines()[1:]  # after the request line
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    [event] = from_http(headers, body.encode())
    _expect(scenario, event)


@_named(scenarios(FEATURES / "kafka-protocol-binding.feature"))
def test_kafka_conformance_scenarios(scenario: Scenario) -> None:
    value = (scenario.step("a Kafka message with payload").doc or "").encode()
    headers = {row[0]: row[1].encode() for row in scenario.step("Kafka headers").table[1:]}
    _expect(scenario, kafka.from_record(kafka.KafkaMessage(headers=headers, key=None, value=value)))


def _conformance_events() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name in ("v1.yaml", "v1_minimum.yaml"):
        docs = yaml.load_all((FEATURES / name).read_text(), Loader=yaml.BaseLoader)
        for index, doc in enumerate(docs):
            found.append((f"{name}#{index}", doc))
    return found


@pytest.mark.parametrize(("name", "doc"), _conformance_events(), ids=lambda v: str(v)[:20])
def test_conformance_events_survive_every_mode(name: str, doc: dict[str, Any]) -> None:
    """The repository's events (its YAML: ContextAttributes, Extensions, Data as text) go out
    and come back through every binding and mode with their text unchanged."""
    context = dict(doc["ContextAttributes"])
    extensions = context.pop("Extensions", {}) or {}
    # v1.yaml writes an extension as a literal block (`|`): its final newline is YAML's, a
    # CloudEvents String cannot hold U+000A (spec.md, "Type System")
    attributes = {k: str(v).rstrip("\n") for k, v in {**context, **extensions}.items()}
    data = doc["Data"].encode()
    content_type = attributes.get("datacontenttype", "application/json")
    [event] = from_http({**_headers(attributes), "content-type": content_type}, data)
    for headers, body in (http.to_binary(event), http.to_structured(event)):
        assert from_http(headers, body) == [event], name
    for mode in ("binary", "structured"):
        assert kafka.from_record(kafka.to_record(event, mode=mode)) == event  # type: ignore[arg-type]
    assert {n: event.text(n) for n in attributes} == attributes


def _headers(attributes: dict[str, str]) -> dict[str, str]:
    return {f"ce-{k}": encode_header(v) for k, v in attributes.items() if k != "datacontenttype"}


# -- json-format.md 3.2: structured examples and their binary re-encodings -------------------


def _json_format_examples() -> list[tuple[str, str]]:
    text = (UPSTREAM / "spec" / "json-format.md").read_text()
    section = text.split("### 3.2. Examples", 1)[1].split("## 4.", 1)[0]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, re.DOTALL)
    pairs = [(blocks[i][1], blocks[i + 1][1]) for i in range(0, len(blocks), 2)]
    return [pair for pair in pairs if "..." not in pair[0]]  # the first holds a placeholder


@pytest.mark.parametrize(("structured", "binary"), _json_format_examples())
def test_json_format_examples_re_encode_as_the_spec_shows(structured: str, binary: str) -> None:
    [event] = from_http({"content-type": http.STRUCTURED}, structured.encode())
    head, _, body = binary.partition("\n\n")
    expected = dict(line.split(": ", 1) for line in head.splitlines())
    headers, written = http.to_binary(event)
    assert headers == expected
    if headers.get("content-type") == "application/json":
        assert json.loads(written) == json.loads(body)
    else:
        assert written == body.rstrip("\n").encode()


@settings(max_examples=200, deadline=None)
@given(event=events())
def test_every_structured_event_tidal_writes_passes_the_spec_schema(event: Event) -> None:
    schema = json.loads((UPSTREAM / "spec" / "cloudevents.json").read_text())
    _, body = http.to_structured(event)
    jsonschema.validate(json.loads(body), schema)


# -- the C# SDK's header values (http-protocol-binding.md 3.1.3.2) ---------------------------


@pytest.mark.parametrize(("value", "encoded"), HEADER_CASES["round_trip"])
def test_header_values_encode_and_decode_as_the_csharp_sdk_does(value: str, encoded: str) -> None:
    assert encode_header(value) == encoded
    assert header_value("ce-x", encoded) == value


@pytest.mark.parametrize(("header", "value"), HEADER_CASES["decode_only"])
def test_header_values_decode_as_the_csharp_sdk_does(header: str, value: str) -> None:
    assert header_value("ce-x", header) == value


@pytest.mark.parametrize("header", HEADER_CASES["invalid"])
def test_header_values_the_csharp_sdk_refuses_are_refused(header: str) -> None:
    with pytest.raises(InvalidEventError, match="ce-x"):
        header_value("ce-x", header)
