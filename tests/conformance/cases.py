"""Loading the vendored upstream suites, and delivering their events through tidal's bindings.

Used by the conformance tests beside it. YAML is read without implicit timestamps, so a ``time``
stays the text the suite wrote (it is the text the event carries on the wire). ``deliveries``
turns one CloudEvent (a JSON-like mapping) into the `Event` each binding decodes from it: HTTP
and Kafka structured mode, and, when every attribute is a string, HTTP and Kafka binary mode.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from tidal import App, Event
from tidal._bindings import http, kafka

HERE = Path(__file__).parent


class _Loader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver: ``2018-04-26T14:48:09+02:00`` stays text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load(path: Path) -> Any:
    """One vendored YAML file."""
    return yaml.load(path.read_text(), Loader=_Loader)


def load_tck(path: Path) -> list[dict[str, Any]]:
    """The cases of one CESQL TCK file; ``expression`` is the text written even where YAML
    would read a boolean or a number (``expression: TRUE``)."""
    typed = load(path)["tests"]
    texts = yaml.load(path.read_text(), Loader=yaml.BaseLoader)["tests"]
    return [
        {**case, "expression": text["expression"]} for case, text in zip(typed, texts, strict=True)
    ]


def differences(suite: str) -> dict[str, dict[str, Any]]:
    """The cases of ``suite`` tidal deliberately answers differently, by case id."""
    listed = load(HERE / "differences.yaml")[suite]
    return {entry["case"]: entry for entry in listed}


def deliveries(attributes: Mapping[str, Any]) -> Iterator[tuple[str, Event]]:
    """``(binding, event)`` for every binding that can carry ``attributes`` unchanged."""
    body = json.dumps(dict(attributes)).encode()
    yield "http-structured", _one(http.from_http({"content-type": http.STRUCTURED}, body))
    structured = {"content-type": b"application/cloudevents+json"}
    yield "kafka-structured", kafka.from_record(kafka.KafkaMessage(structured, None, body))
    if all(isinstance(value, str) for value in attributes.values()):
        headers = {f"ce-{name}": _header(value) for name, value in attributes.items()}
        yield "http-binary", _one(http.from_http(headers, b""))
        record_headers = {f"ce_{name}": value.encode() for name, value in attributes.items()}
        message = kafka.KafkaMessage(headers=record_headers, key=None, value=b"")
        yield "kafka-binary", kafka.from_record(message)


def _header(value: str) -> str:
    """Percent-encode what the HTTP binding says must be (CloudEvents HTTP binding 1.0.2
    §3.1.3.2: space, double quote, percent and anything outside printable ASCII)."""
    return "".join(
        char if " " < char <= "~" and char not in '"%' else quote(char, safe="") for char in value
    )


def _one(events: list[Event]) -> Event:
    [event] = events
    return event


def delivered(app: App, event: Event) -> list[str]:
    """The names of the App's subscriptions ``event`` is delivered to."""
    return [subscription.name for subscription in app.matching(event)]
