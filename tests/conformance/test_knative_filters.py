"""Knative Trigger filters: knative/eventing's own tables, vendored, against tidal.

``knative/subscriptions_api_filters.yaml`` (the pkg/eventfilter/subscriptionsapi unit tests) and
``knative/new_trigger_filters.yaml`` (the rekt conformance features): a subscription registered
with the case's filters must be delivered the case's event, decoded by the HTTP and Kafka
bindings, exactly when Knative passes it. ``knative/trigger_validation.yaml`` (the webhook's
cases): the subscription must be registered when the webhook accepts the filters and refused
(``FilterError`` naming it) when it does not. Deliberate differences are in
``differences.yaml``, checked against what tidal does instead.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.conformance.cases import HERE, delivered, deliveries, differences, load

from tidal import App
from tidal._errors import FilterError

# The suites name extensions and missing attributes on purpose: no typo warnings here.
pytestmark = pytest.mark.filterwarnings("ignore::tidal.FilterWarning")
DIFFERENCES = differences("knative")
UNIT = load(HERE / "knative" / "subscriptions_api_filters.yaml")
WEBHOOK = load(HERE / "knative" / "trigger_validation.yaml")["cases"]
FEATURES = load(HERE / "knative" / "new_trigger_filters.yaml")["features"]
MIN_EVENT = {
    "specversion": "1.0",
    "type": "com.example.MinEvent",
    "source": "http://example.com/source",
}


def _name(case: dict[str, Any]) -> str:
    return str(case["name"])


def _subscribe(filters: list[Any], **shorthand: str) -> App:
    app = App("conformance")
    app.on(*filters, name="trigger", **shorthand)(lambda event: None)
    return app


def _tidal(case_name: str, key: str, upstream: Any) -> Any:
    listed = DIFFERENCES.get(case_name)
    return listed["tidal"][key] if listed else upstream


@pytest.mark.parametrize("case", UNIT["cases"], ids=_name)
def test_subscriptions_api_filter(case: dict[str, Any]) -> None:
    want = _tidal(case["name"], "want", case["want"])
    if want == "refused":
        with pytest.raises(FilterError, match="subscription 'trigger' of app 'conformance'"):
            _subscribe(case["filters"])
        return
    app = _subscribe(case["filters"])
    for binding, event in deliveries(UNIT["events"][case["event"]]):
        assert delivered(app, event) == (["trigger"] if want in ("pass", "none") else []), binding


@pytest.mark.parametrize("case", WEBHOOK, ids=_name)
def test_webhook_validation(case: dict[str, Any]) -> None:
    if _tidal(case["name"], "valid", case["valid"]):
        assert [s.name for s in _subscribe(case["filters"]).subscriptions] == ["trigger"]
    else:
        with pytest.raises(FilterError, match="subscription 'trigger' of app 'conformance'"):
            _subscribe(case["filters"])


@pytest.mark.parametrize("feature", FEATURES, ids=_name)
def test_new_trigger_filters_feature(feature: dict[str, Any]) -> None:
    app = _subscribe(feature["filters"], **feature.get("attributes", {}))
    for index, sent in enumerate(feature["events"]):
        attributes = {k: v for k, v in sent.items() if k != "deliver"}
        event = {**MIN_EVENT, "id": f"event-{index}", **attributes}
        deliver = _tidal(f"{feature['name']}[{index}]", "deliver", sent["deliver"])
        for binding, decoded in deliveries(event):
            assert delivered(app, decoded) == (["trigger"] if deliver else []), (index, binding)
