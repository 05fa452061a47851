"""EventBridge content patterns: aws/event-ruler's unit-test verdicts, vendored, against tidal.

``eventbridge/event_ruler_compile.yaml``: patterns event-ruler's compiler accepts or refuses; a
subscription ``app.on(data=pattern)`` must be registered or refused alike.
``eventbridge/event_ruler_matching.yaml``: patterns and events event-ruler matches or not; the
event's data (the JSON event event-ruler matched), carried by the HTTP and Kafka bindings, must
reach the subscription exactly when event-ruler says it matches. Cases tidal answers
differently on purpose are in ``differences.yaml``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.conformance.cases import HERE, delivered, differences, load

from tidal import App, Event
from tidal._bindings import http, kafka
from tidal._errors import FilterError

DIFFERENCES = differences("eventbridge")
COMPILE = load(HERE / "eventbridge" / "event_ruler_compile.yaml")["cases"]
MATCHING = load(HERE / "eventbridge" / "event_ruler_matching.yaml")


def _case_id(case: dict[str, Any]) -> str:
    return f"{case['source'].rsplit('/', 1)[-1]} {case['pattern']}"


def _expected(case: dict[str, Any], key: str) -> Any:
    listed = DIFFERENCES.get(_case_id(case))
    return listed["tidal"][key] if listed else case[key]


@pytest.mark.parametrize("case", COMPILE, ids=_case_id)
def test_pattern_is_accepted_or_refused_as_event_ruler_does(case: dict[str, Any]) -> None:
    app = App("conformance")
    subscribe = app.on(type="com.example.ruler", data=json.loads(case["pattern"]), name="rule")
    if _expected(case, "valid"):
        subscribe(lambda event: None)
        assert [s.name for s in app.subscriptions] == ["rule"]
    else:
        with pytest.raises(FilterError, match="subscription 'rule' of app 'conformance'"):
            subscribe(lambda event: None)


def _deliveries(data: Any) -> list[tuple[str, Event]]:
    event = Event.create(type="com.example.ruler", source="/ruler", id="e1", data=data)
    headers, body = http.to_structured(event)
    record = kafka.to_record(event)
    return [
        ("http-structured", http.from_http(headers, body)[0]),
        ("http-binary", http.from_http(*http.to_binary(event))[0]),
        ("kafka-binary", kafka.from_record(record)),
    ]


@pytest.mark.parametrize("case", MATCHING["cases"], ids=_case_id)
def test_pattern_matches_as_event_ruler_does(case: dict[str, Any]) -> None:
    app = App("conformance")
    app.on(type="com.example.ruler", data=json.loads(case["pattern"]), name="rule")(
        lambda event: None
    )
    data = json.loads(MATCHING["events"].get(case["event"], case["event"]))
    expected = ["rule"] if _expected(case, "matches") else []
    for binding, event in _deliveries(data):
        assert delivered(app, event) == expected, binding
