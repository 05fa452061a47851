"""One DeliveryPolicy, one schedule: the Kafka broker's waits (from the Trigger `tidal manifests`
writes, read as eventing-kafka-broker reads it) equal the Kafka worker's, or manifests refuse.

The broker waits backoffDelay * 2^n (exponential) or * n (linear) before retry n, reading the
delay to one decimal and not waiting at all for 0 (tests/fidelity/eventing.py cites where).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.fidelity.eventing import broker_schedule, period

from tidal._delivery import DeliveryPolicy
from tidal._errors import ConfigurationError
from tidal._loading import load_app
from tidal._manifests import ScalingOptions, scaled_object
from tidal._manifests.triggers import trigger_delivery
from tidal._settings import KafkaSettings


def worker_schedule(policy: DeliveryPolicy) -> list[Decimal]:
    return [Decimal(str(policy.ceiling(n))) for n in range(1, policy.max_attempts)]


@pytest.mark.parametrize("reference", ["services.fleet.app:app", "services.orders.app:app"])
def test_the_reference_apps_retry_on_one_schedule_in_both_modes(reference: str) -> None:
    for sub in load_app(reference).subscriptions:
        assert broker_schedule(trigger_delivery(sub.policy)) == worker_schedule(sub.policy)


@pytest.mark.parametrize(
    "policy",
    [
        DeliveryPolicy.of(max_attempts=5, delay="PT0.5S", max_delay="PT30S"),
        DeliveryPolicy.of(max_attempts=4, backoff="linear", delay="PT1.5S", max_delay="PT5S"),
        DeliveryPolicy.of(max_attempts=3, delay="PT0.1S"),
    ],
)
def test_an_expressible_policy_has_the_brokers_schedule(policy: DeliveryPolicy) -> None:
    """The first is the finding: the broker waited 1, 2, 4, 8 s, the worker 0.5, 1, 2, 4 s."""
    assert broker_schedule(trigger_delivery(policy)) == worker_schedule(policy)


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        (DeliveryPolicy.of(delay="PT0.05S"), "0.1 s"),
        (DeliveryPolicy.of(delay="PT1S", jitter=True), "jitter"),
        (DeliveryPolicy.of(delay="PT0.25S"), "0.1 s"),
        (DeliveryPolicy.of(delay=0), "0.1 s"),
        (DeliveryPolicy.of(max_attempts=8, delay="PT1S", max_delay="PT60S"), "caps retry 7"),
        (
            DeliveryPolicy.of(max_attempts=5, backoff="linear", delay="PT1S", max_delay="PT3S"),
            "caps retry 4",
        ),
    ],
)
def test_what_knative_cannot_express_is_refused(policy: DeliveryPolicy, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        trigger_delivery(policy)


def test_knative_reads_durations_to_one_decimal() -> None:
    """rickb777/date period.Parse: PT0.05S is 0, PT1.25S is 1.2 s, PT1M30S is 90 s."""
    assert period("PT0.05S") == (Decimal("0.05"), Decimal("0"))
    assert period("PT1.25S") == (Decimal("1.25"), Decimal("1.2"))
    assert period("PT1M30S") == (Decimal("90"), Decimal("90"))
    assert period("P1M") is None
    assert period("0.5") is None


def test_scaled_objects_that_would_not_wake_for_the_first_event_are_refused() -> None:
    app = load_app("services.fleet.app:app")
    with pytest.raises(ConfigurationError, match="activation_lag_threshold must be 0"):
        ScalingOptions(activation_lag_threshold=5)
    latest = KafkaSettings(auto_offset_reset="latest")
    with pytest.raises(ConfigurationError, match="cannot scale from zero"):
        scaled_object(app, latest, ScalingOptions())
